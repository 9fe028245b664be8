#ifndef CMOOSYNC_LINUX_H
#define CMOOSYNC_LINUX_H
// Linux calls Swift cannot reach directly: pthread_setname_np needs _GNU_SOURCE, and prctl is
// variadic. Same idea as swift-nio's CNIOLinux.

#include <sys/signalfd.h>

// Names the calling thread (at most 15 characters), as `top -H` shows it. 0 or an errno.
int cmoosync_set_thread_name(const char *name);

// Sets the calling thread's timer slack in nanoseconds, so its sleeps wake on time. 0 or -1.
int cmoosync_set_timer_slack(unsigned long nanoseconds);

#endif
