#ifndef CMOOSYNC_LINUX_H
#define CMOOSYNC_LINUX_H
// Linux calls Swift cannot reach directly: pthread_setname_np needs _GNU_SOURCE, and prctl is
// variadic. Same idea as swift-nio's CNIOLinux.

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/types.h>

// Names the calling thread (at most 15 characters), as `top -H` shows it. 0 or an errno.
int cmoosync_set_thread_name(const char *name);

// Sets the calling thread's timer slack in nanoseconds, so its sleeps wake on time. 0 or -1.
int cmoosync_set_timer_slack(unsigned long nanoseconds);

// Joins `thread`, cutting its sleeps short until it returns (a signal whose handler does
// nothing: clock_nanosleep returns early). For a thread that sleeps in a loop checking a stop
// flag. pthread_join's result: 0 or an errno.
int cmoosync_wake_and_join(pthread_t thread);

// Asks the kernel to stamp each received segment with its arrival time. 0 or -1 (errno).
int cmoosync_enable_receive_timestamps(int fd);

// recv(2) that also reports when the bytes arrived, as CLOCK_MONOTONIC µs: the kernel's receive
// timestamp of the last segment read where it gave one (converted from CLOCK_REALTIME), else
// now. The cmsg macros this needs are not reachable from Swift.
ssize_t cmoosync_recv_stamped(int fd, void *buffer, size_t length, int flags, int64_t *arrival_us);

// malloc_trim(0): gives the heap's free pages back to the kernel (malloc.h is not in Swift's
// Glibc module).
void cmoosync_return_free_heap(void);

// Drops this process's mappings of the pages of every read-only segment it has loaded (the
// program's and each library's code, constants, symbol tables), which are never written: the
// kernel maps back from the page cache whatever runs again, 16 KB at a time (shim.c says how).
// 0, or -1 with errno.
int cmoosync_release_code_pages(void);

// Locks in memory the pages this process has mapped now, and only those (mlockall would fault
// in every page mapped): the audio thread's working set, once it has run, can then
// not be evicted and read back from an SD card mid-stream. Bytes locked, or -errno.
long cmoosync_lock_resident_pages(void);

// munlockall(2).
void cmoosync_unlock_all_pages(void);

#endif
