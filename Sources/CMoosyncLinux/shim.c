#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be set by Package.swift for pthread_setname_np"
#endif
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "CMoosyncLinux.h"

int cmoosync_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int cmoosync_set_timer_slack(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }

static void do_nothing(int signal) { (void)signal; }

static void install_wake_handler(void)
{
	struct sigaction action = { .sa_handler = do_nothing };
	sigemptyset(&action.sa_mask);
	sigaction(SIGRTMIN + 1, &action, NULL);
}

int cmoosync_wake_and_join(pthread_t thread)
{
	static pthread_once_t installed = PTHREAD_ONCE_INIT;
	pthread_once(&installed, install_wake_handler);
	for (;;) {
		/* Again every 5 ms: a signal that came just before the thread went to sleep woke nothing. */
		pthread_kill(thread, SIGRTMIN + 1);
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 5000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec += 1;
			deadline.tv_nsec -= 1000000000;
		}
		int rc = pthread_timedjoin_np(thread, NULL, &deadline);
		if (rc != ETIMEDOUT)
			return rc;
	}
}

void cmoosync_return_free_heap(void) { malloc_trim(0); }

int cmoosync_enable_receive_timestamps(int fd)
{
	int one = 1;
	return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

static int64_t microseconds(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000; }

ssize_t cmoosync_recv_stamped(int fd, void *buffer, size_t length, int flags, int64_t *arrival_us)
{
	struct iovec iov = { .iov_base = buffer, .iov_len = length };
	union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(struct timespec))]; } control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof control.bytes };
	ssize_t n = recvmsg(fd, &msg, flags);
	if (n <= 0)
		return n;
	/* The wall clock first: a pause between the two readings (a preempted thread or vCPU)
	 * then dates the arrival later, which only inflates a delay sample. Read the other way
	 * round, a 200 µs pause dated it 200 µs early, below the path's floor. */
	struct timespec real, mono;
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	*arrival_us = microseconds(&mono);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec stamp;
		memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
		/* How long ago it arrived, on the wall clock; a stamp "in the future" (the wall clock
		 * stepped back in between) or from long ago (stepped forward) is not trusted. */
		int64_t ago = microseconds(&real) - microseconds(&stamp);
		if (ago >= 0 && ago < 10000000)
			*arrival_us -= ago;
	}
	return n;
}

/* The kernel's fault-around maps up to 64 KB of cached pages around each page fault, but never
 * past the end of a mapping. Marking every other granule of a read-only segment MADV_DONTDUMP
 * (which changes nothing else: the kernel does not dump file-backed pages) splits the segment
 * into mappings of one granule each, so a first call maps one granule, not 64 KB of functions
 * that never run. */
#define RELEASE_GRANULE (16 * 1024)

/* A library with text relocations had its read-only pages patched when it was loaded: thrown
 * away, they would come back from the file unpatched. */
static int has_text_relocations(const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
			continue;
		for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr); d->d_tag != DT_NULL; d++)
			if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
				return 1;
	}
	return 0;
}

static int release_text(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	int *result = data;
	/* The vDSO is the kernel's own page; everything else loaded is a file in the page cache. */
	if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso"))
		return 0;
	if (has_text_relocations(info))
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		/* Only segments never written: a writable one holds relocated or changed data that
		 * MADV_DONTNEED would throw away (its read-only-after-relocation part included). */
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		/* The granules are counted from where the kernel's mapping of the segment begins (its
		 * first page, which the segment may start part-way into) to where it ends: counted from
		 * the first whole page, the partial page before it would join the first granule. */
		uintptr_t first = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
		uintptr_t last = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(uintptr_t)(page - 1);
		for (uintptr_t at = first + RELEASE_GRANULE; at < last; at += 2 * RELEASE_GRANULE) {
			size_t length = last - at < RELEASE_GRANULE ? last - at : RELEASE_GRANULE;
			if (madvise((void *)at, length, MADV_DONTDUMP) != 0)
				*result = -1;
		}
		/* Unmapped: only the pages wholly inside the segment's file image. */
		uintptr_t start = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(uintptr_t)(page - 1);
		uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(uintptr_t)(page - 1);
		if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) != 0)
			*result = -1;
	}
	return 0;
}

int cmoosync_release_code_pages(void)
{
	int result = 0;
	dl_iterate_phdr(release_text, &result);
	return result;
}

/* /proc/self/pagemap is read for this many pages at a time. */
#define PAGEMAP_WINDOW 4096

/* Pages this process has mapped now: pagemap's "present" bit (63), not mincore(), which also
 * counts a library's pages that only other processes keep in the page cache. */
long cmoosync_lock_resident_pages(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!maps || pagemap < 0) {
		int e = errno;
		if (maps) fclose(maps);
		if (pagemap >= 0) close(pagemap);
		return -e;
	}
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
	long locked = 0, result = 0;
	uint64_t entries[PAGEMAP_WINDOW];
	char line[512];
	while (result == 0 && fgets(line, sizeof line, maps)) {
		unsigned long start, end;
		char perms[5] = {0};
		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[0] != 'r')
			continue;
		/* The kernel's own pages ([vvar], [vsyscall]) cannot be locked and need not be. */
		if (strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
			continue;
		for (unsigned long at = start; result == 0 && at < end; at += page * PAGEMAP_WINDOW) {
			unsigned long pages = (end - at) / page < PAGEMAP_WINDOW ? (end - at) / page : PAGEMAP_WINDOW;
			ssize_t n = pread(pagemap, entries, pages * sizeof entries[0], (off_t)(at / page * sizeof entries[0]));
			if (n != (ssize_t)(pages * sizeof entries[0]))
				break;
			unsigned long run = 0;
			for (unsigned long i = 0; i <= pages; i++) {
				if (i < pages && (entries[i] >> 63) & 1) {
					run++;
					continue;
				}
				if (run == 0)
					continue;
				if (mlock((void *)(at + (i - run) * page), run * page) != 0) {
					result = -errno;
					break;
				}
				locked += (long)(run * page);
				run = 0;
			}
		}
	}
	fclose(maps);
	close(pagemap);
	return result != 0 ? result : locked;
}

void cmoosync_unlock_all_pages(void) { munlockall(); }
