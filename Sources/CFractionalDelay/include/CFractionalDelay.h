#ifndef CFRACTIONALDELAY_H
#define CFRACTIONALDELAY_H

#include <stddef.h>
#include <stdint.h>

/// Taps of the fractional-delay filter, and 2^bits tabulated delays between two input frames.
#define MS_FRACTIONAL_DELAY_TAPS 24
#define MS_FRACTIONAL_DELAY_DELAY_BITS 7

/// Writes interleaved S16 output frames while the filter's last tap stays inside the history:
/// frame n is the history (planar floats, `stride` per channel) delayed to `*position` (32.32
/// fixed point, in frames from the history's start, less the taps before it), and the position
/// then moves on by `step`, which itself moves by `glide` after each of the first
/// `glide_frames` frames. `table` holds, per tabulated delay (2^bits + 1 rows), the taps, then
/// the steps to the next row's taps, scaled to the output (a history at full scale ±1.0 and
/// taps summing to 32768 give S16). Returns the frames written; `*position` is where the next
/// frame would be.
size_t ms_fractional_delay(const float *history, size_t stride, size_t channels, const float *table,
                           uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
                           int16_t *output);

/// Interleaved float samples at full scale ±1.0 to S16: `count` samples, each scaled by 32768,
/// rounded half away from zero and clamped. Exact for samples that came from S16.
void ms_float_to_s16(const float *input, int16_t *output, size_t count);

/// The same loop built for the baseline CPU only: what `ms_fractional_delay` runs where the CPU
/// has no AVX2/FMA, callable directly so a test can compare the two.
size_t ms_fractional_delay_portable(const float *history, size_t stride, size_t channels, const float *table,
                                    uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
                                    int16_t *output);

#endif
