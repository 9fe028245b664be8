#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be set by Package.swift for pthread_setname_np"
#endif
#include <pthread.h>
#include <sys/prctl.h>
#include "CMoosyncLinux.h"

int cmoosync_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int cmoosync_set_timer_slack(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }
