// Counts heap allocations, loaded with LD_PRELOAD, two ways:
// - while counting is switched on, for the test that proves the audio path allocates nothing in
//   steady state: the program under test finds the switch with dlsym and turns it on around the
//   code it measures;
// - per thread in a running daemon, for the soak: with MOOSYNC_ALLOC_REPORT set, it writes every
//   second, to that path with ".PID" appended, one line per thread: "TID NAME ALLOCATIONS". The
//   soak reads it once the stream is steady and again at the end: the audio thread's count must
//   not have moved. The writer allocates nothing itself (a stack buffer and system calls).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_int counting;
static atomic_long allocations;

void moosync_alloc_counting(int on) { atomic_store(&counting, on); }
long moosync_alloc_count(void) { return atomic_load(&allocations); }

enum { MAX_THREADS = 256 };
static atomic_int reporting;
static atomic_long thread_counts[MAX_THREADS];
static atomic_int thread_ids[MAX_THREADS];
static atomic_int threads_seen;
static __thread int thread_slot = -1;

static inline void count(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&allocations, 1);
    if (!atomic_load_explicit(&reporting, memory_order_relaxed)) return;
    if (thread_slot < 0) {
        int index = atomic_fetch_add(&threads_seen, 1);
        thread_slot = index < MAX_THREADS ? index : MAX_THREADS;
        if (index < MAX_THREADS) atomic_store(&thread_ids[index], (int)syscall(SYS_gettid));
    }
    if (thread_slot < MAX_THREADS) atomic_fetch_add_explicit(&thread_counts[thread_slot], 1, memory_order_relaxed);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    count();
    void *p = __libc_memalign(a, n);
    if (!p) return 12;
    *out = p;
    return 0;
}

static char report_path[512];

static void write_report(void) {
    char buffer[16384];
    size_t used = 0;
    int threads = atomic_load(&threads_seen);
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    for (int i = 0; i < threads && used + 128 < sizeof buffer; i++) {
        int tid = atomic_load(&thread_ids[i]);
        char comm_path[64], name[32] = "gone";
        snprintf(comm_path, sizeof comm_path, "/proc/self/task/%d/comm", tid);
        int fd = open(comm_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, name, sizeof name - 1);
            close(fd);
            name[n > 0 ? n : 0] = 0;
            char *newline = strchr(name, '\n');
            if (newline) *newline = 0;
        }
        used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%d %s %ld\n", tid, name, atomic_load(&thread_counts[i]));
    }
    char temporary[600];
    snprintf(temporary, sizeof temporary, "%s.tmp", report_path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t written = write(fd, buffer, used);
    close(fd);
    if (written == (ssize_t)used) rename(temporary, report_path);
}

static void *reporter(void *unused) {
    (void)unused;
    struct timespec second = {1, 0};
    for (;;) {
        write_report();
        nanosleep(&second, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void start_reporter(void) {
    const char *path = getenv("MOOSYNC_ALLOC_REPORT");
    if (!path) return;
    snprintf(report_path, sizeof report_path, "%s.%d", path, (int)getpid());
    atomic_store(&reporting, 1);
    // Created with every signal blocked, as the daemon's own threads are: a SIGTERM meant for
    // the daemon's signalfd must not be delivered here, where its default action kills it.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, reporter, NULL);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}
