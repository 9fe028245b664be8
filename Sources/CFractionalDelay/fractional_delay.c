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

/* The helpers below pass 8-float vectors by value. They are always inlined, so the ABI that
 * clang warns about for such calls in a baseline build never applies. */
#pragma clang diagnostic ignored "-Wpsabi"

/* The 24 taps of one delay: the tabulated row at or below it, plus its fraction of the step
 * to the next row. */
struct taps {
	v8 c0, c1, c2;
};

static inline __attribute__((always_inline)) struct taps taps_at(const float *table, uint64_t t)
{
	const uint32_t below = (uint32_t)t;
	const float *row = table + (size_t)(below >> FRACTION_BITS) * 2 * TAPS;
	const float f = (float)(below & ((1u << FRACTION_BITS) - 1)) * (1.0f / (float)(1u << FRACTION_BITS));
	return (struct taps){load(row) + f * load(row + 24), load(row + 8) + f * load(row + 32), load(row + 16) + f * load(row + 40)};
}

static inline __attribute__((always_inline)) v8 dot(const float *x, struct taps c)
{
	return load(x) * c.c0 + load(x + 8) * c.c1 + load(x + 16) * c.c2;
}

/* Per 128-bit half: the sums of neighbouring lanes of a, then of b. */
static inline __attribute__((always_inline)) v8 pair_sums(v8 a, v8 b)
{
	return __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
}

static inline __attribute__((always_inline)) size_t
run(const float *history, size_t stride, size_t channels, const float *table, uint64_t *position, uint64_t end,
    uint64_t step, int64_t glide, size_t glide_frames, float *output)
{
	_Static_assert(TAPS == 24, "three vectors of eight taps");
	uint64_t t = *position;
	size_t produced = 0;
	/* Stereo, four frames at a time: their eight dot products are summed across lanes together,
	 * which takes a third of the instructions of eight sums one by one, and come out as one
	 * vector of interleaved frames. */
	while (channels == 2) {
		uint64_t at[4], next = t, s = step;
		size_t count = produced;
		for (int k = 0; k < 4; k++) {
			at[k] = next;
			next += s;
			if (++count < glide_frames) s = (uint64_t)((int64_t)s + glide);
		}
		if (at[3] >= end)
			break;
		v8 sums[8];
		for (int k = 0; k < 4; k++) {
			const struct taps c = taps_at(table, at[k]);
			const float *x = history + (size_t)(at[k] >> 32) - BEFORE;
			sums[2 * k] = dot(x, c);
			sums[2 * k + 1] = dot(x + stride, c);
		}
		const v8 a = pair_sums(pair_sums(sums[0], sums[1]), pair_sums(sums[2], sums[3]));
		const v8 b = pair_sums(pair_sums(sums[4], sums[5]), pair_sums(sums[6], sums[7]));
		*(v8_unaligned *)(output + 2 * produced) =
			__builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
		produced = count;
		t = next;
		step = s;
	}
	while (t < end) {
		const struct taps c = taps_at(table, t);
		const float *x = history + (size_t)(t >> 32) - BEFORE;
		for (size_t channel = 0; channel < channels; channel++, x += stride) {
			const v8 s = dot(x, c);
			output[produced * channels + channel] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
		}
		produced++;
		t += step;
		if (produced < glide_frames) step = (uint64_t)((int64_t)step + glide);
	}
	*position = t;
	return produced;
}

/* Interleaved frames into the history's planar rows. Stereo, the common case, four frames a
 * vector; the vectors are plain SSE, so one build serves every x86-64 CPU, and NEON does the same. */
void ms_deinterleave(const float *input, size_t channels, size_t frames, float *history, size_t stride)
{
	typedef float v4 __attribute__((vector_size(16)));
	typedef float v4_unaligned __attribute__((vector_size(16), aligned(4)));
	size_t frame = 0;
	if (channels == 2) {
		float *left = history, *right = history + stride;
		for (; frame + 4 <= frames; frame += 4) {
			const v4 a = *(const v4_unaligned *)(input + 2 * frame), b = *(const v4_unaligned *)(input + 2 * frame + 4);
			*(v4_unaligned *)(left + frame) = __builtin_shufflevector(a, b, 0, 2, 4, 6);
			*(v4_unaligned *)(right + frame) = __builtin_shufflevector(a, b, 1, 3, 5, 7);
		}
	}
	for (; frame < frames; frame++)
		for (size_t channel = 0; channel < channels; channel++)
			history[channel * stride + frame] = input[frame * channels + channel];
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static size_t
run_avx2(const float *history, size_t stride, size_t channels, const float *table, uint64_t *position, uint64_t end,
	 uint64_t step, int64_t glide, size_t glide_frames, float *output)
{
	return run(history, stride, channels, table, position, end, step, glide, glide_frames, output);
}
#endif

typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u8 __attribute__((vector_size(32)));
typedef int16_t s8 __attribute__((vector_size(16)));

/* The conversion, eight samples at a time. The dither is a hash of each sample's number
 * (lowbias32), not a generator's next draw: lanes need no state of their own, and the output
 * does not depend on how the samples were split into calls, nor on the vector width. */
static inline __attribute__((always_inline)) v8 v8_splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* Lane by lane, `yes` where `mask` is set, else `no`. */
static inline __attribute__((always_inline)) v8 select(i8 mask, v8 yes, v8 no) { return (v8)(((i8)yes & mask) | ((i8)no & ~mask)); }

/* Rounded half away from zero and clamped to [low, high]. The product of a float and a power of
 * two is exact in float, and so are the bounds used (S32's is the largest float below 2^31), and
 * so is what a sample has beyond its whole part: adding one half instead would round again. */
static inline __attribute__((always_inline)) i8 round_clamp(v8 v, float low, float high)
{
	v = select(v < v8_splat(low), v8_splat(low), v);
	v = select(v > v8_splat(high), v8_splat(high), v);
	const i8 whole = __builtin_convertvector(v, i8);
	const v8 fraction = v - __builtin_convertvector(whole, v8);
	/* A comparison's true is -1. */
	return whole - (fraction >= v8_splat(0.5f)) + (fraction <= v8_splat(-0.5f));
}

/* Triangular (TPDF) dither of one LSB either way for samples number..number+7: the difference
 * of two uniform variables, the two halves of one hash. */
static inline __attribute__((always_inline)) v8 tpdf(uint32_t number)
{
	u8 x = (u8){0, 1, 2, 3, 4, 5, 6, 7} + number;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return (__builtin_convertvector(x & 0xffffu, v8) - __builtin_convertvector(x >> 16, v8)) * v8_splat(1.0f / 65536.0f);
}

/* Eight samples (`v`, on S16's scale) into the format, the first `n` of them stored at `output`
 * (sample `i`). `number` is the first one's, for the dither. */
static inline __attribute__((always_inline)) void
convert_block(v8 v, uint32_t number, void *output, size_t i, size_t n, const int format)
{
	union {
		int16_t s16[8];
		int32_t s32[8];
	} out;
	switch (format) {
	case MS_FORMAT_S16: {
		/* A sample with nothing below the LSB (it came from S16, untouched) stays exact; one
		 * with more is dithered before it is rounded. */
		const i8 exact = __builtin_convertvector(__builtin_convertvector(v, i8), v8) == v;
		v += (v8)((i8)tpdf(number) & ~exact);
		*(s8 *)out.s16 = __builtin_convertvector(round_clamp(v, INT16_MIN, INT16_MAX), s8);
		__builtin_memcpy((int16_t *)output + i, out.s16, n * 2);
		break;
	}
	case MS_FORMAT_S24:
		*(i8 *)out.s32 = round_clamp(v * v8_splat(256.0f), -8388608.0f, 8388607.0f);
		__builtin_memcpy((int32_t *)output + i, out.s32, n * 4);
		break;
	case MS_FORMAT_S24_3: {
		*(i8 *)out.s32 = round_clamp(v * v8_splat(256.0f), -8388608.0f, 8388607.0f);
		uint8_t *o = (uint8_t *)output + 3 * i;
		for (size_t k = 0; k < n; k++) {
			o[3 * k] = (uint8_t)out.s32[k];
			o[3 * k + 1] = (uint8_t)(out.s32[k] >> 8);
			o[3 * k + 2] = (uint8_t)(out.s32[k] >> 16);
		}
		break;
	}
	default:
		*(i8 *)out.s32 = round_clamp(v * v8_splat(65536.0f), -2147483648.0f, 2147483520.0f);
		__builtin_memcpy((int32_t *)output + i, out.s32, n * 4);
		break;
	}
}

/* Whole vectors, then the rest through one padded with silence; `format` is a constant in each
 * caller, so each format gets a loop of its own. */
static inline __attribute__((always_inline)) void
convert_to(const float *input, float scale, void *output, size_t count, const int format, uint32_t *dither)
{
	size_t i = 0;
	for (; i + 8 <= count; i += 8)
		convert_block(load(input + i) * v8_splat(scale), *dither + (uint32_t)i, output, i, 8, format);
	if (i < count) {
		float tail[8] = {0};
		__builtin_memcpy(tail, input + i, (count - i) * sizeof(float));
		convert_block(load(tail) * v8_splat(scale), *dither + (uint32_t)i, output, i, count - i, format);
	}
	*dither += (uint32_t)count;
}

static inline __attribute__((always_inline)) void
convert(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither)
{
	switch (format) {
	case MS_FORMAT_S16: convert_to(input, scale, output, count, MS_FORMAT_S16, dither); break;
	case MS_FORMAT_S24: convert_to(input, scale, output, count, MS_FORMAT_S24, dither); break;
	case MS_FORMAT_S24_3: convert_to(input, scale, output, count, MS_FORMAT_S24_3, dither); break;
	default: convert_to(input, scale, output, count, MS_FORMAT_S32, dither); break;
	}
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void
convert_avx2(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither)
{
	convert(input, scale, output, count, format, dither);
}
#endif

void ms_convert(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		convert_avx2(input, scale, output, count, format, dither);
		return;
	}
#endif
	convert(input, scale, output, count, format, dither);
}

void ms_convert_portable(const float *input, float scale, void *output, size_t count, int format, uint32_t *dither)
{
	convert(input, scale, output, count, format, dither);
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
