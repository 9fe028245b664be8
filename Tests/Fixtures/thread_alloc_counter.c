// Counts each thread's heap allocations in a running daemon, for the soak: loaded with
// LD_PRELOAD into msrecv, it writes every second, to the file MOOSYNC_ALLOC_REPORT names (with
// ".PID" appended), one line per thread: "TID NAME ALLOCATIONS". The soak reads it once the
// stream is steady and again at the end: the audio thread's count must not have moved.
// The writer thread allocates nothing itself (a stack buffer and plain system calls), so it
// never shows in its own report.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
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

enum { MAX_THREADS = 256 };
static atomic_long counts[MAX_THREADS];
static atomic_int tids[MAX_THREADS];
static atomic_int registered;
static __thread int slot = -1;

static inline void count(void) {
    if (slot < 0) {
        int index = atomic_fetch_add(&registered, 1);
        if (index >= MAX_THREADS) { slot = MAX_THREADS; return; }
        atomic_store(&tids[index], (int)syscall(SYS_gettid));
        slot = index;
    }
    if (slot < MAX_THREADS) atomic_fetch_add_explicit(&counts[slot], 1, memory_order_relaxed);
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
    int threads = atomic_load(&registered);
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    for (int i = 0; i < threads && used + 128 < sizeof buffer; i++) {
        int tid = atomic_load(&tids[i]);
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
        used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%d %s %ld\n", tid, name, atomic_load(&counts[i]));
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
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, reporter, NULL);
    pthread_attr_destroy(&attributes);
}
