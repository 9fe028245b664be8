#ifndef MOOSYNC_CFLAC_SHIM_H
#define MOOSYNC_CFLAC_SHIM_H
// libFLAC speaks through callbacks: these keep one AUDIO packet's worth of bytes in a buffer the
// caller owns, so the Swift side calls plain functions and nothing allocates per packet.
#include <FLAC/stream_decoder.h>
#include <FLAC/stream_encoder.h>
#include <string.h>

/// Where the encoder's bytes for one frame go.
typedef struct {
    unsigned char *out;
    size_t capacity;
    size_t used;
    int overflow;
} cflac_sink;

static FLAC__StreamEncoderWriteStatus cflac_encoder_write(const FLAC__StreamEncoder *encoder, const FLAC__byte buffer[], size_t bytes,
                                                          uint32_t samples, uint32_t current_frame, void *client) {
    (void)encoder; (void)samples; (void)current_frame;
    cflac_sink *sink = (cflac_sink *)client;
    if (sink->used + bytes > sink->capacity) {
        sink->overflow = 1;
        return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
    }
    memcpy(sink->out + sink->used, buffer, bytes);
    sink->used += bytes;
    return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
}

/// Sets the encoder up for `blocksize`-sample frames of 16-bit audio and starts it; what it
/// writes first (the stream marker and metadata) lands in `sink`, for the caller to drop.
static inline int cflac_encoder_start(FLAC__StreamEncoder *encoder, cflac_sink *sink, uint32_t channels, uint32_t rate, uint32_t blocksize,
                                      uint32_t level) {
    if (!FLAC__stream_encoder_set_channels(encoder, channels) || !FLAC__stream_encoder_set_bits_per_sample(encoder, 16)
        || !FLAC__stream_encoder_set_sample_rate(encoder, rate) || !FLAC__stream_encoder_set_compression_level(encoder, level)
        || !FLAC__stream_encoder_set_blocksize(encoder, blocksize) || !FLAC__stream_encoder_set_streamable_subset(encoder, true)
        || !FLAC__stream_encoder_set_verify(encoder, false)) {
        return -1;
    }
    return (int)FLAC__stream_encoder_init_stream(encoder, cflac_encoder_write, NULL, NULL, NULL, sink);
}

/// One packet's bytes in, interleaved floats out.
typedef struct {
    const unsigned char *in;
    size_t remaining;
    float *out;
    size_t out_capacity;
    uint32_t channels;
    uint32_t frames;
    int error;
} cflac_source;

static FLAC__StreamDecoderReadStatus cflac_decoder_read(const FLAC__StreamDecoder *decoder, FLAC__byte buffer[], size_t *bytes, void *client) {
    (void)decoder;
    cflac_source *source = (cflac_source *)client;
    if (source->remaining == 0) {
        *bytes = 0;
        return FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
    }
    size_t n = *bytes < source->remaining ? *bytes : source->remaining;
    memcpy(buffer, source->in, n);
    source->in += n;
    source->remaining -= n;
    *bytes = n;
    return FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}

static FLAC__StreamDecoderWriteStatus cflac_decoder_write(const FLAC__StreamDecoder *decoder, const FLAC__Frame *frame,
                                                          const FLAC__int32 *const buffer[], void *client) {
    (void)decoder;
    cflac_source *source = (cflac_source *)client;
    uint32_t channels = frame->header.channels, frames = frame->header.blocksize, bits = frame->header.bits_per_sample;
    if (bits != 16 || channels != source->channels || (size_t)frames * channels > source->out_capacity) {
        source->error = 1;
        return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    const float scale = 1.0f / 32768.0f;
    for (uint32_t f = 0; f < frames; f++) {
        for (uint32_t c = 0; c < channels; c++) source->out[f * channels + c] = (float)buffer[c][f] * scale;
    }
    source->frames = frames;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

static void cflac_decoder_error(const FLAC__StreamDecoder *decoder, FLAC__StreamDecoderErrorStatus status, void *client) {
    (void)decoder; (void)status;
    ((cflac_source *)client)->error = 1;
}

static inline int cflac_decoder_start(FLAC__StreamDecoder *decoder, cflac_source *source) {
    FLAC__stream_decoder_set_md5_checking(decoder, false);
    return (int)FLAC__stream_decoder_init_stream(decoder, cflac_decoder_read, NULL, NULL, NULL, NULL, cflac_decoder_write, NULL,
                                                 cflac_decoder_error, source);
}

/// Decodes the one frame in `source`'s input; the frame count, or -1 (a frame that does not
/// decode, or does not fit the stream). Whatever is left of the packet is dropped (flushing
/// clears the input and allocates nothing), so the next packet starts afresh at its frame sync.
static inline int cflac_decode_packet(FLAC__StreamDecoder *decoder, cflac_source *source) {
    source->frames = 0;
    source->error = 0;
    FLAC__bool ok = FLAC__stream_decoder_process_single(decoder);
    source->remaining = 0;
    FLAC__stream_decoder_flush(decoder);
    return !ok || source->error || source->frames == 0 ? -1 : (int)source->frames;
}

#endif
