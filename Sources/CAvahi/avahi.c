#include "CAvahi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static struct ms_avahi_library library;
static int loaded;  // 0 not tried, 1 loaded, -1 failed
static char load_error[256];

const struct ms_avahi_library *ms_avahi_library(void) {
    if (loaded == 0) {
        // libavahi-client's own dependency list brings libavahi-common, where the string list,
        // address and error functions are: dlsym on this handle searches both.
        void *handle = dlopen("libavahi-client.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            snprintf(load_error, sizeof load_error, "%s", dlerror());
            loaded = -1;
            return NULL;
        }
        loaded = 1;
#define MS_AVAHI_RESOLVE(name) \
        if (loaded == 1 && !(library.name = (__typeof__(name) *)dlsym(handle, #name))) { \
            snprintf(load_error, sizeof load_error, "libavahi-client.so.3 has no %s", #name); \
            loaded = -1; \
        }
        MS_AVAHI_FUNCTIONS(MS_AVAHI_RESOLVE)
#undef MS_AVAHI_RESOLVE
    }
    return loaded == 1 ? &library : NULL;
}

const char *ms_avahi_load_error(void) { return load_error; }

struct AvahiWatch {
    ms_avahi_poll *owner;
    int id, fd, dead;
    AvahiWatchEvent events, revents;
    AvahiWatchCallback callback;
    void *userdata;
    struct AvahiWatch *next;
};

struct AvahiTimeout {
    ms_avahi_poll *owner;
    int id, dead, armed;
    struct timeval when;
    AvahiTimeoutCallback callback;
    void *userdata;
    struct AvahiTimeout *next;
};

struct ms_avahi_poll {
    AvahiPoll api;
    AvahiWatch *watches;
    AvahiTimeout *timeouts;
    int next_id, changed;
};

static AvahiWatch *watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent events, AvahiWatchCallback callback, void *userdata) {
    ms_avahi_poll *p = api->userdata;
    AvahiWatch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    *w = (AvahiWatch){.owner = p, .id = ++p->next_id, .fd = fd, .events = events, .callback = callback, .userdata = userdata, .next = p->watches};
    p->watches = w;
    p->changed = 1;
    return w;
}

static void watch_update(AvahiWatch *w, AvahiWatchEvent events) {
    if (w->events != events) w->owner->changed = 1;
    w->events = events;
}

static AvahiWatchEvent watch_get_events(AvahiWatch *w) { return w->revents; }

// Freed entries are only marked: Avahi may free one from inside its own callback, and the
// list is walked there. They are reaped when the loop next lists the registrations.
static void watch_free(AvahiWatch *w) {
    w->dead = 1;
    w->owner->changed = 1;
}

static void timeout_update(AvahiTimeout *t, const struct timeval *tv) {
    t->armed = tv != NULL;
    if (tv) t->when = *tv;
    t->owner->changed = 1;
}

static AvahiTimeout *timeout_new(const AvahiPoll *api, const struct timeval *tv, AvahiTimeoutCallback callback, void *userdata) {
    ms_avahi_poll *p = api->userdata;
    AvahiTimeout *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    *t = (AvahiTimeout){.owner = p, .id = ++p->next_id, .callback = callback, .userdata = userdata, .next = p->timeouts};
    p->timeouts = t;
    timeout_update(t, tv);
    return t;
}

static void timeout_free(AvahiTimeout *t) {
    t->dead = 1;
    t->owner->changed = 1;
}

ms_avahi_poll *ms_avahi_poll_new(void) {
    ms_avahi_poll *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->api = (AvahiPoll){.userdata = p, .watch_new = watch_new, .watch_update = watch_update, .watch_get_events = watch_get_events,
                         .watch_free = watch_free, .timeout_new = timeout_new, .timeout_update = timeout_update, .timeout_free = timeout_free};
    return p;
}

static void reap(ms_avahi_poll *p, int all) {
    for (AvahiWatch **w = &p->watches; *w;) {
        if (all || (*w)->dead) {
            AvahiWatch *gone = *w;
            *w = gone->next;
            free(gone);
        } else {
            w = &(*w)->next;
        }
    }
    for (AvahiTimeout **t = &p->timeouts; *t;) {
        if (all || (*t)->dead) {
            AvahiTimeout *gone = *t;
            *t = gone->next;
            free(gone);
        } else {
            t = &(*t)->next;
        }
    }
}

void ms_avahi_poll_free(ms_avahi_poll *p) {
    if (!p) return;
    reap(p, 1);
    free(p);
}

const AvahiPoll *ms_avahi_poll_api(ms_avahi_poll *p) { return &p->api; }

int ms_avahi_poll_changed(ms_avahi_poll *p) {
    int changed = p->changed;
    p->changed = 0;
    return changed;
}

int ms_avahi_poll_list(ms_avahi_poll *p, ms_avahi_registration *out, int capacity) {
    reap(p, 0);
    int n = 0;
    for (AvahiWatch *w = p->watches; w; w = w->next, n++) {
        if (n < capacity) out[n] = (ms_avahi_registration){.id = w->id, .fd = w->fd, .events = (int)w->events};
    }
    // Avahi's deadlines are wall-clock times (gettimeofday); the loop's clock is monotonic.
    struct timeval now;
    gettimeofday(&now, NULL);
    for (AvahiTimeout *t = p->timeouts; t; t = t->next, n++) {
        if (n >= capacity) continue;
        long long delay = (long long)(t->when.tv_sec - now.tv_sec) * 1000000 + (t->when.tv_usec - now.tv_usec);
        out[n] = (ms_avahi_registration){.id = t->id, .fd = -1, .events = t->armed, .delay_us = delay > 0 ? delay : 0};
    }
    return n;
}

void ms_avahi_poll_ready(ms_avahi_poll *p, int id, int revents) {
    for (AvahiWatch *w = p->watches; w; w = w->next) {
        if (w->id != id || w->dead) continue;
        w->revents = (AvahiWatchEvent)(revents & (w->events | POLLERR | POLLHUP));
        if (w->revents) w->callback(w, w->fd, w->revents, w->userdata);
        // The callback may have freed the watch (then only marked) or made others.
        w->revents = 0;
        return;
    }
}

void ms_avahi_poll_expired(ms_avahi_poll *p, int id) {
    for (AvahiTimeout *t = p->timeouts; t; t = t->next) {
        if (t->id != id || t->dead || !t->armed) continue;
        // One-shot until Avahi arms it again, as its own simple poll does.
        t->armed = 0;
        t->callback(t, t->userdata);
        return;
    }
}
