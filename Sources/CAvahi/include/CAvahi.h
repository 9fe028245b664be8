#ifndef MOOSYNC_CAVAHI_H
#define MOOSYNC_CAVAHI_H
// Avahi, loaded when discovery is first used rather than linked: libavahi-client brings libdbus,
// libsystemd and libgcrypt (about 1 MB of a speaker's memory), which a speaker given its host's
// address never needs. The headers are the Debian package's; every call goes through the table
// `ms_avahi_library()` fills, each entry typed as the header declares the function.
#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/watch.h>

#define MS_AVAHI_FUNCTIONS(X) \
    X(avahi_client_new) X(avahi_client_free) X(avahi_client_errno) \
    X(avahi_entry_group_new) X(avahi_entry_group_free) X(avahi_entry_group_reset) \
    X(avahi_entry_group_add_service_strlst) X(avahi_entry_group_commit) \
    X(avahi_service_browser_new) X(avahi_service_browser_free) \
    X(avahi_service_resolver_new) X(avahi_service_resolver_free) \
    X(avahi_string_list_add) X(avahi_string_list_free) X(avahi_string_list_get_next) \
    X(avahi_string_list_get_text) X(avahi_string_list_get_size) \
    X(avahi_address_snprint) X(avahi_alternative_service_name) X(avahi_free) X(avahi_strerror)

#define MS_AVAHI_ENTRY(name) __typeof__(name) *name;
struct ms_avahi_library { MS_AVAHI_FUNCTIONS(MS_AVAHI_ENTRY) };
#undef MS_AVAHI_ENTRY

/// The loaded library, or NULL with `ms_avahi_load_error()` saying why (not installed, a symbol
/// missing). Loaded once; later calls return the same table.
const struct ms_avahi_library *ms_avahi_library(void);
const char *ms_avahi_load_error(void);

/// An AvahiPoll served by the caller's own event loop. Avahi registers descriptors and
/// timeouts through it; the loop asks what is registered after each call into Avahi
/// (`ms_avahi_poll_changed`, `ms_avahi_poll_list`) and hands back what happened
/// (`ms_avahi_poll_ready`, `ms_avahi_poll_expired`).
typedef struct ms_avahi_poll ms_avahi_poll;

typedef struct {
    int id;
    /// -1 for a timeout.
    int fd;
    /// POLLIN / POLLOUT wanted (watch), or whether the timeout is armed.
    int events;
    /// Timeout: microseconds from now (0 if already due).
    long long delay_us;
} ms_avahi_registration;

ms_avahi_poll *ms_avahi_poll_new(void);
/// After the client that used it is freed.
void ms_avahi_poll_free(ms_avahi_poll *poll);
const AvahiPoll *ms_avahi_poll_api(ms_avahi_poll *poll);
/// Whether registrations changed since the last call (then the caller lists them again).
int ms_avahi_poll_changed(ms_avahi_poll *poll);
/// Up to `capacity` live registrations; the number there are.
int ms_avahi_poll_list(ms_avahi_poll *poll, ms_avahi_registration *out, int capacity);
/// The watch `id`'s descriptor became ready with `revents` (poll(2) bits).
void ms_avahi_poll_ready(ms_avahi_poll *poll, int id, int revents);
/// The timeout `id` is due.
void ms_avahi_poll_expired(ms_avahi_poll *poll, int id);
#endif
