#ifndef CFRACTIONALDELAY_H
#define CFRACTIONALDELAY_H

#include <stddef.h>
#include <stdint.h>

/// Taps of the fractional-delay filter, and 2^bits tabulated delays between two input frames.
#define MS_FRACTIONAL_DELAY_TAPS 24
#define MS_FRACTIONAL_DELAY_DELAY_BITS 7

/// Writes interleaved output frames (floats at S16 scale, ±32768 full scale) while the filter's last tap stays inside the history:
/// frame n is the history (planar floats, `stride` per channel) delayed to `*position` (32.32
/// fixed point, in frames from the history's start, less the taps before it), and the position
/// then moves on by `step`, which itself moves by `glide` after each of the first
/// `glide_frames` frames. `table` holds, per tabulated delay (2^bits + 1 rows), the taps, then
/// the steps to the next row's taps, scaled to the output (a history at full scale ±1.0 and
/// taps summing to 32768 give S16's scale). Returns the frames written; `*position` is where the next
/// frame would be.
size_t ms_fractional_delay(const float *history, size_t stride, size_t channels, const float *table,
                           uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
                           float *output);

/// Copies `frames` interleaved frames of `channels` into planar rows: channel c's frame f to
/// `history[c * stride + f]`.
void ms_deinterleave(const float *input, size_t channels, size_t frames, float *history, size_t stride);

/// The device formats `ms_convert` writes: S16_LE, S24_LE (in 32 bits), S24_3LE, S32_LE.
enum { MS_FORMAT_S16 = 0, MS_FORMAT_S24 = 1, MS_FORMAT_S24_3 = 2, MS_FORMAT_S32 = 3 };

/// Interleaved float samples to the device's format: `count` samples, each times `scale` on
/// S16's scale (32768 for ±1.0 full scale, 1 for the resampler's output), rounded half away from
/// zero and clamped. Wider formats keep what is below S16's LSB; S16 gets TPDF dither (one LSB
/// either way, drawn from the sample's number: `*dither` is the next sample's, and moves on by
/// `count`) except where a sample has nothing below its LSB, so a sample that came from S16 comes
/// back exact in every format.
void ms_convert(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither);

/// `ms_convert` built for the baseline CPU only, callable directly so a test can compare the two.
void ms_convert_portable(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither);

/// The same loop built for the baseline CPU only: what `ms_fractional_delay` runs where the CPU
/// has no AVX2/FMA, callable directly so a test can compare the two.
size_t ms_fractional_delay_portable(const float *history, size_t stride, size_t channels, const float *table,
                                    uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
                                    float *output);

#endif
