// The drift resampler's inner loop (Resample.DriftResampler), and the conversion of float
// samples to S16 where nothing is resampled. The loop is in C for one reason: on x86-64
// a build must run on any CPU, and only C lets one function carry an AVX2/FMA variant chosen at
// run time. With 8-float vectors the 24 taps are three multiply-adds per channel, about three
// times fewer instructions than the SSE2 baseline needs. On arm64 NEON is the baseline and the
// same source compiles to it.
#include "CFractionalDelay.h"

#define TAPS MS_FRACTIONAL_DELAY_TAPS
#define FRACTION_BITS (32 - MS_FRACTIONAL_DELAY_DELAY_BITS)
// Taps before the output position (the last of them at or just before it).
#define BEFORE (TAPS / 2 - 1)

typedef float v8 __attribute__((vector_size(32)));
// The same vector read from any float's address (the history moves by one frame at a time).
typedef float v8_unaligned __attribute__((vector_size(32), aligned(4)));
#define load(p) (*(const v8_unaligned *)(p))

static inline __attribute__((always_inline)) int16_t to_sample(float value)
{
	// Rounded half away from zero; the filter overshoots full scale by a few percent at most.
	int32_t rounded = (int32_t)(value + (value < 0 ? -0.5f : 0.5f));
	return (int16_t)(rounded > INT16_MAX ? INT16_MAX : rounded < INT16_MIN ? INT16_MIN : rounded);
}

static inline __attribute__((always_inline)) size_t
run(const float *history, size_t stride, size_t channels, const float *table, uint64_t *position, uint64_t end,
    uint64_t step, int64_t glide, size_t glide_frames, int16_t *output)
{
	_Static_assert(TAPS == 24, "three vectors of eight taps");
	const float scale = 1.0f / (float)(1u << FRACTION_BITS);
	uint64_t t = *position;
	size_t produced = 0;
	while (t < end) {
		const uint32_t below = (uint32_t)t;
		const float *row = table + (size_t)(below >> FRACTION_BITS) * 2 * TAPS;
		const float f = (float)(below & ((1u << FRACTION_BITS) - 1)) * scale;
		// The taps for this delay, interpolated between the two tabulated delays around it.
		const v8 c0 = load(row) + f * load(row + 24), c1 = load(row + 8) + f * load(row + 32),
			 c2 = load(row + 16) + f * load(row + 40);
		const float *x = history + (size_t)(t >> 32) - BEFORE;
		for (size_t channel = 0; channel < channels; channel++, x += stride) {
			const v8 s = load(x) * c0 + load(x + 8) * c1 + load(x + 16) * c2;
			output[produced * channels + channel] = to_sample(((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])));
		}
		produced++;
		t += step;
		if (produced < glide_frames) step = (uint64_t)((int64_t)step + glide);
	}
	*position = t;
	return produced;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static size_t
run_avx2(const float *history, size_t stride, size_t channels, const float *table, uint64_t *position, uint64_t end,
	 uint64_t step, int64_t glide, size_t glide_frames, int16_t *output)
{
	return run(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}
#endif

void ms_float_to_s16(const float *input, int16_t *output, size_t count)
{
	for (size_t i = 0; i < count; i++)
		output[i] = to_sample(input[i] * 32768.0f);
}

size_t ms_fractional_delay(const float *history, size_t stride, size_t channels, const float *table,
			   uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
			   int16_t *output)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return run_avx2(history, stride, channels, table, position, end, step, glide, glide_frames, output);
#endif
	return ms_fractional_delay_portable(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}

size_t ms_fractional_delay_portable(const float *history, size_t stride, size_t channels, const float *table,
				    uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
				    int16_t *output)
{
	return run(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}
