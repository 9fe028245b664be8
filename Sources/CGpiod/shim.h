#ifndef MOOSYNC_CGPIOD_SHIM_H
#define MOOSYNC_CGPIOD_SHIM_H
// One Swift API over libgpiod 1.6 (bookworm, v1 API) and 2.x (trixie, v2 API). v1's header
// defines GPIOD_BIT; v2's does not, so that macro decides which API the shims call.
//
// A speaker requests each line on its own (a button, an LED, the amplifier's power): one
// `cgpiod_line` owns the chip handle and the request, so lines on one chip come and go apart.
// Every failure returns NULL or -1 with errno set; the Swift side names the errno.
#include <errno.h>
#include <gpiod.h>
#include <stdlib.h>
#include <string.h>

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

enum cgpiod_bias { CGPIOD_BIAS_AS_IS = 0, CGPIOD_BIAS_PULL_UP, CGPIOD_BIAS_PULL_DOWN, CGPIOD_BIAS_DISABLED };

typedef struct cgpiod_line {
    struct gpiod_chip *chip;
#if CGPIOD_API_MAJOR == 1
    struct gpiod_line *line;
#else
    struct gpiod_line_request *request;
    struct gpiod_edge_event_buffer *events;
    unsigned int offset;
#endif
} cgpiod_line;

static inline void cgpiod_release(cgpiod_line *l) {
    if (!l) return;
    int saved = errno;
#if CGPIOD_API_MAJOR == 1
    if (l->line) gpiod_line_release(l->line);
#else
    if (l->events) gpiod_edge_event_buffer_free(l->events);
    if (l->request) gpiod_line_request_release(l->request);
#endif
    if (l->chip) gpiod_chip_close(l->chip);
    free(l);
    errno = saved;
}

/// The label of the chip at `path` ("pinctrl-bcm2711"), copied into `out`; -1 with errno.
static inline int cgpiod_chip_label(const char *path, char *out, size_t size) {
    struct gpiod_chip *chip = gpiod_chip_open(path);
    if (!chip || size == 0) return -1;
#if CGPIOD_API_MAJOR == 1
    const char *label = gpiod_chip_label(chip);
#else
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
    const char *label = info ? gpiod_chip_info_get_label(info) : NULL;
#endif
    if (label) {
        strncpy(out, label, size - 1);
        out[size - 1] = 0;
    }
#if CGPIOD_API_MAJOR == 2
    if (info) gpiod_chip_info_free(info);
#endif
    gpiod_chip_close(chip);
    return label ? 0 : -1;
}

/// Opens the chip at `path` and requests line `offset`: an input that reports both edges, or an
/// output driven to `initial` (logical: active-low applies). NULL with errno (ENOENT: no chip,
/// EINVAL: no such line, EBUSY: another consumer has it, EACCES: no permission).
static inline cgpiod_line *cgpiod_request(const char *path, unsigned int offset, int output,
                                          int active_low, int bias, int initial, const char *consumer) {
    cgpiod_line *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->chip = gpiod_chip_open(path);
    if (!l->chip) goto fail;
#if CGPIOD_API_MAJOR == 1
    if (offset >= gpiod_chip_num_lines(l->chip)) { errno = EINVAL; goto fail; }
    l->line = gpiod_chip_get_line(l->chip, offset);
    if (!l->line) goto fail;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (bias == CGPIOD_BIAS_PULL_UP) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (bias == CGPIOD_BIAS_PULL_DOWN) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    if (bias == CGPIOD_BIAS_DISABLED) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    int rc = output ? gpiod_line_request_output_flags(l->line, consumer, flags, initial)
                    : gpiod_line_request_both_edges_events_flags(l->line, consumer, flags);
    if (rc < 0) { l->line = NULL; goto fail; }
    return l;
#else
    l->offset = offset;
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    struct gpiod_line_config *config = gpiod_line_config_new();
    struct gpiod_request_config *request = gpiod_request_config_new();
    int ok = settings && config && request;
    if (ok) {
        gpiod_line_settings_set_active_low(settings, active_low != 0);
        if (output) {
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT);
            gpiod_line_settings_set_output_value(settings, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
        } else {
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT);
            gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH);
            static const enum gpiod_line_bias biases[] = {GPIOD_LINE_BIAS_AS_IS, GPIOD_LINE_BIAS_PULL_UP, GPIOD_LINE_BIAS_PULL_DOWN, GPIOD_LINE_BIAS_DISABLED};
            gpiod_line_settings_set_bias(settings, biases[bias >= 0 && bias <= 3 ? bias : 0]);
        }
        gpiod_request_config_set_consumer(request, consumer);
        ok = gpiod_line_config_add_line_settings(config, &offset, 1, settings) == 0;
        if (ok) l->request = gpiod_chip_request_lines(l->chip, request, config);
        ok = l->request != NULL;
        if (ok && !output) ok = (l->events = gpiod_edge_event_buffer_new(16)) != NULL;
    }
    int saved = errno;
    gpiod_line_settings_free(settings);
    gpiod_line_config_free(config);
    gpiod_request_config_free(request);
    errno = saved;
    if (ok) return l;
#endif
fail:
    cgpiod_release(l);
    return NULL;
}

/// Readable when an input's edge events wait.
static inline int cgpiod_fd(cgpiod_line *l) {
#if CGPIOD_API_MAJOR == 1
    return gpiod_line_event_get_fd(l->line);
#else
    return gpiod_line_request_get_fd(l->request);
#endif
}

/// Reads the edge events that wait (the caller knows some do): the level is read afterwards,
/// so the events' kinds do not matter, only that they are consumed. -1 with errno.
static inline int cgpiod_drain(cgpiod_line *l) {
#if CGPIOD_API_MAJOR == 1
    struct gpiod_line_event event;
    return gpiod_line_event_read(l->line, &event);
#else
    return gpiod_line_request_read_edge_events(l->request, l->events, 16) < 0 ? -1 : 0;
#endif
}

/// The line's logical level (active-low applied): 1 active, 0 inactive, -1 with errno.
static inline int cgpiod_get(cgpiod_line *l) {
#if CGPIOD_API_MAJOR == 1
    return gpiod_line_get_value(l->line);
#else
    enum gpiod_line_value v = gpiod_line_request_get_value(l->request, l->offset);
    return v == GPIOD_LINE_VALUE_ERROR ? -1 : v == GPIOD_LINE_VALUE_ACTIVE;
#endif
}

static inline int cgpiod_set(cgpiod_line *l, int active) {
#if CGPIOD_API_MAJOR == 1
    return gpiod_line_set_value(l->line, active);
#else
    return gpiod_line_request_set_value(l->request, l->offset, active ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
#endif
}

#endif
