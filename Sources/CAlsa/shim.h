#ifndef MOOSYNC_CALSA_SHIM_H
#define MOOSYNC_CALSA_SHIM_H
#include <alsa/asoundlib.h>

// The *_alloca macros allocate on the caller's stack, which Swift cannot do; callers use the
// heap variants (*_malloc/*_free) at set-up time instead. alsa-lib also prints errors to stderr
// by itself through a variadic handler; this one silences it, because we report every error as
// one typed line of our own.
static void calsa_silent_error_handler(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err; (void)fmt;
}
static inline void calsa_silence_library_errors(void) { snd_lib_error_set_handler(calsa_silent_error_handler); }

#endif
