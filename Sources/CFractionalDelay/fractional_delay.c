// The drift resampler's inner loop (Resample.DriftResampler), and the conversion of float
// samples to the device's format. The loop is in C for one reason: on x86-64
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

static inline __attribute__((always_inline)) size_t
run(const float *history, size_t stride, size_t channels, const float *table, uint64_t *position, uint64_t end,
    uint64_t step, int64_t glide, size_t glide_frames, float *output)
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
			output[produced * channels + channel] = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
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
	 uint64_t step, int64_t glide, size_t glide_frames, float *output)
{
	return run(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}
#endif

/* Rounded half away from zero and clamped to [low, high]. */
static inline __attribute__((always_inline)) int32_t round_clamp(double value, double low, double high)
{
	value = value < low ? low : value > high ? high : value;
	return (int32_t)(value + (value < 0 ? -0.5 : 0.5));
}

/* Triangular (TPDF) dither of one LSB either way: the sum of two uniform variables, from one
 * xorshift32 draw split in two. */
static inline __attribute__((always_inline)) float tpdf(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return ((float)(x & 0xffff) - (float)(x >> 16)) * (1.0f / 65536.0f);
}

void ms_convert(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither)
{
	switch (format) {
	case MS_FORMAT_S16: {
		int16_t *out = output;
		for (size_t i = 0; i < count; i++) {
			float v = input[i] * scale;
			/* A sample with nothing below the LSB (it came from S16, untouched) stays exact;
			 * one with more is dithered before it is rounded. */
			if (v != (float)(int32_t)v)
				v += tpdf(dither);
			out[i] = (int16_t)round_clamp(v, INT16_MIN, INT16_MAX);
		}
		break;
	}
	case MS_FORMAT_S24: {
		int32_t *out = output;
		for (size_t i = 0; i < count; i++)
			out[i] = round_clamp((double)input[i] * scale * 256.0, -8388608.0, 8388607.0);
		break;
	}
	case MS_FORMAT_S24_3: {
		uint8_t *out = output;
		for (size_t i = 0; i < count; i++) {
			int32_t v = round_clamp((double)input[i] * scale * 256.0, -8388608.0, 8388607.0);
			out[3 * i] = (uint8_t)v;
			out[3 * i + 1] = (uint8_t)(v >> 8);
			out[3 * i + 2] = (uint8_t)(v >> 16);
		}
		break;
	}
	default: {
		int32_t *out = output;
		for (size_t i = 0; i < count; i++)
			out[i] = round_clamp((double)input[i] * scale * 65536.0, -2147483648.0, 2147483647.0);
		break;
	}
	}
}

size_t ms_fractional_delay(const float *history, size_t stride, size_t channels, const float *table,
			   uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
			   float *output)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return run_avx2(history, stride, channels, table, position, end, step, glide, glide_frames, output);
#endif
	return ms_fractional_delay_portable(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}

size_t ms_fractional_delay_portable(const float *history, size_t stride, size_t channels, const float *table,
				    uint64_t *position, uint64_t end, uint64_t step, int64_t glide, size_t glide_frames,
				    float *output)
{
	return run(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}
