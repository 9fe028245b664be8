#ifndef MOOSYNC_CGPIOD_SHIM_H
#define MOOSYNC_CGPIOD_SHIM_H
// One Swift API over libgpiod 1.6 (bookworm, v1 API) and 2.x (trixie, v2 API). v1's header
// defines GPIOD_BIT; v2's does not, so that macro decides which API the shims call.
#include <gpiod.h>

#if defined(GPIOD_BIT)
#define CGPIOD_API_MAJOR 1
#else
#define CGPIOD_API_MAJOR 2
#endif

static inline const char *cgpiod_version_string(void) {
#if CGPIOD_API_MAJOR == 1
    return gpiod_version_string();
#else
    return gpiod_api_version();
#endif
}

#endif
