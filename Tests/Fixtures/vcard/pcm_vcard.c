/*
 * vcard: a virtual sound card for tests and benchmarks, as an ALSA external (ioplug) PCM.
 *
 * It consumes frames at CLOCK_MONOTONIC scaled by a crystal error (ppm > 0: its DAC runs fast),
 * reports its queue plus a fixed hardware delay as `delay`, advances its hardware pointer in
 * bursts the way DMA does, and stops on underrun as a real card does (the application must
 * prepare it again). What it played can be recorded to a WAV (in the format it plays) plus a JSON sidecar with the
 * CLOCK_MONOTONIC time (ns) at which frame 0 left the DAC and the card's effective rate, so
 * sample n of the file left the DAC at t0 + n / effective_rate: time without audio (before a
 * restart after an underrun) is recorded as silence. The sidecar also says when the DAC ran
 * dry at each of the first 32 underruns, and the loudest sample the player wrote (before the
 * card's own volume, if it has one).
 *
 *   pcm_type.vcard { lib "/path/libasound_module_pcm_vcard.so" }
 *   pcm.speaker {
 *     type vcard
 *     ppm 150            # crystal error, parts per million (default 0)
 *     delay_us 2000      # fixed delay from the hardware pointer to the DAC (default 0)
 *     burst 64           # the hardware pointer moves in steps of this many frames (default 1)
 *     period_frames 256  # the only period size it accepts (default: any, 64 bytes to 1 MiB)
 *     buffer_frames 2048 # the only buffer size it accepts (default: any, 256 bytes to 4 MiB)
 *     channels 2         # the only channel count it accepts (default: 1 to 8); the two sizes
 *                        # above count frames of this many 16-bit channels (2 if not given)
 *     rate 48000         # the only rate it accepts (default: 8000 to 192000)
 *     formats "S32_LE S24_3LE S16_LE"  # the sample formats it accepts (default S16_LE alone);
 *                        # S16_LE, S24_LE, S24_3LE and S32_LE. It records in the format it
 *                        # plays (the WAV holds 16, 24 or 32-bit samples; S24_LE as 32-bit
 *                        # words), and the sidecar names it.
 *     record "/tmp/speaker.wav"   # optional; the sidecar is "/tmp/speaker.wav.json"
 *     meter "/tmp/speaker.meter"  # optional: running totals of what played (frames, 10 ms blocks,
 *                                 # blocks above -60 dBFS, sum of squares, peak, opens) as one
 *                                 # JSON line, rewritten every 250 ms of audio and at close;
 *                                 # continued across opens. Costs no disk writes per period, so
 *                                 # benchmarks measure the player, not the recording.
 *     state "/tmp/speaker.state"  # optional: a test unplugs and plugs the card with this file.
 *                                 # "gone": opening fails with -ENODEV, and a card that plays
 *                                 # stops as an unplugged USB DAC does (its pointer fails, it
 *                                 # cannot be prepared or started again); "busy": opening fails
 *                                 # with -EBUSY, as when another process holds the card. No file,
 *                                 # or anything else in it: the card is there.
 *     mixer "desk"       # optional: plays through the hardware volume of the control below
 *   }
 *
 * The same library is a control (mixer) plugin: the card's hardware volume, as a DAC has one
 * ("Digital Playback Volume", 0..207 in 0.5 dB steps: -103.5 dB to 0 dB, dB-scaled through its
 * TLV, and "Digital Playback Switch"). A PCM whose `mixer` names it scales what it plays by it
 * (bit-exact at 0 dB and on); both live in the player's process, so they share it in memory.
 *   ctl_type.vcard { lib "/path/libasound_module_pcm_vcard.so" }
 *   ctl.desk { type vcard mixer "desk" }
 *
 * Build: cc -shared -fPIC -DPIC -O2 -o libasound_module_pcm_vcard.so pcm_vcard.c -lasound -lm
 * (without -DPIC alsa-lib's plugin macros do not export the entry point).
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <alsa/control_external.h>
#include <math.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* A card's hardware volume, shared by its PCM and its control plugin (one process). */
#define VMIXER_MAX 207
typedef struct { char name[64]; long value; long on; } vmixer_t;
static vmixer_t vmixers[8];

static vmixer_t *vmixer_named(const char *name)
{
	for (unsigned i = 0; i < sizeof vmixers / sizeof vmixers[0]; i++) {
		if (!strcmp(vmixers[i].name, name))
			return &vmixers[i];
		if (!vmixers[i].name[0]) {
			snprintf(vmixers[i].name, sizeof vmixers[i].name, "%s", name);
			vmixers[i].value = VMIXER_MAX;
			vmixers[i].on = 1;
			return &vmixers[i];
		}
	}
	return NULL;
}

typedef struct {
	snd_pcm_ioplug_t io;
	vmixer_t *mixer;
	char *scaled;
	snd_pcm_uframes_t scaled_frames;
	int written_peak;       /* the loudest sample the player wrote, before the card's volume (recorded cards) */
	int timer;
	double ppm;
	long delay_us;
	snd_pcm_uframes_t burst;
	/* This run (since the last start): when it started and how much it consumed. */
	int64_t run_start_ns;
	uint64_t consumed;
	/* The recording's timeline, continuous across underruns. */
	FILE *wav;
	char *sidecar;
	int64_t t0_ns;          /* when frame 0 of the file left the DAC; 0 until the first start */
	uint64_t recorded;      /* frames in the file */
	uint64_t run_base;      /* file frame where the frames written since the last prepare begin */
	char *state;            /* the presence file, or NULL */
	unsigned underruns;
	/* When the first underruns happened (the DAC ran out, ns), so that a test can tell which
	 * stall of the machine caused each. */
	int64_t underrun_ns[32];
	/* meter: totals since the file was first written, and the 10 ms block being summed */
	int m_fd;
	uint64_t m_frames, m_blocks, m_loud, m_written;
	double m_sumsq;
	/* Exact: a 10 ms block of full-scale 16-bit samples sums to well under 2^63. */
	int64_t m_block_sumsq;
	unsigned m_block_frames, m_opens;
	int m_peak;
} vcard_t;

/* What the presence file says: 'g' gone, 'b' busy, 0 present. */
static char card_state(const char *path)
{
	char word[8] = {0};
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(word, 1, sizeof word - 1, f);
	fclose(f);
	(void)n;
	if (!strncmp(word, "gone", 4))
		return 'g';
	if (!strncmp(word, "busy", 4))
		return 'b';
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double effective_rate(const vcard_t *v) { return v->io.rate * (1.0 + v->ppm / 1e6); }

static void put_u32(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

static unsigned sample_bytes(const vcard_t *v) { return snd_pcm_format_physical_width(v->io.format) / 8; }

/* Sample i of a buffer in the card's format, at 32-bit scale. */
static int32_t sample_at(const vcard_t *v, const char *base, size_t i)
{
	const unsigned char *p = (const unsigned char *)base;
	switch (v->io.format) {
	case SND_PCM_FORMAT_S24_3LE: return (int32_t)(((uint32_t)p[3 * i] << 8) | ((uint32_t)p[3 * i + 1] << 16) | ((uint32_t)p[3 * i + 2] << 24));
	case SND_PCM_FORMAT_S24_LE: return ((const int32_t *)base)[i] << 8;
	case SND_PCM_FORMAT_S32_LE: return ((const int32_t *)base)[i];
	default: return (int32_t)((const int16_t *)base)[i] << 16;
	}
}

static void put_sample(const vcard_t *v, char *base, size_t i, int32_t x)
{
	unsigned char *p = (unsigned char *)base;
	switch (v->io.format) {
	case SND_PCM_FORMAT_S24_3LE: p[3 * i] = x >> 8; p[3 * i + 1] = x >> 16; p[3 * i + 2] = x >> 24; break;
	case SND_PCM_FORMAT_S24_LE: ((int32_t *)base)[i] = x >> 8; break;
	case SND_PCM_FORMAT_S32_LE: ((int32_t *)base)[i] = x; break;
	default: ((int16_t *)base)[i] = (int16_t)(x >> 16); break;
	}
}

static void write_wav_header(vcard_t *v)
{
	unsigned char h[44];
	unsigned width = v->io.format == SND_PCM_FORMAT_UNKNOWN ? 2 : sample_bytes(v);
	uint32_t bytes = (uint32_t)(v->recorded * v->io.channels * width);
	memcpy(h, "RIFF", 4); put_u32(h + 4, 36 + bytes); memcpy(h + 8, "WAVEfmt ", 8);
	put_u32(h + 16, 16); h[20] = 1; h[21] = 0; h[22] = v->io.channels; h[23] = 0;
	put_u32(h + 24, v->io.rate); put_u32(h + 28, v->io.rate * v->io.channels * width);
	h[32] = v->io.channels * width; h[33] = 0; h[34] = 8 * width; h[35] = 0;
	memcpy(h + 36, "data", 4); put_u32(h + 40, bytes);
	fseek(v->wav, 0, SEEK_SET);
	fwrite(h, 1, sizeof h, v->wav);
	fseek(v->wav, 0, SEEK_END);
}

static void write_silence(vcard_t *v, uint64_t frames)
{
	static const char zero[4096];
	uint64_t bytes = frames * v->io.channels * sample_bytes(v);
	while (bytes > 0) {
		size_t n = bytes < sizeof zero ? bytes : sizeof zero;
		fwrite(zero, 1, n, v->wav);
		bytes -= n;
	}
	v->recorded += frames;
}

/* Frames the DAC has taken since this run started, in whole bursts. */
static uint64_t frames_due(vcard_t *v)
{
	double seconds = (now_ns() - v->run_start_ns) / 1e9;
	uint64_t frames = (uint64_t)(seconds * effective_rate(v));
	return frames / v->burst * v->burst;
}

/* One fixed-width JSON line rewritten in place: no truncation, so no filesystem work beyond
 * the page cache (a reopen with O_TRUNC makes ext4 flush the file on every close). */
static void meter_write(vcard_t *v)
{
	char line[256];
	int n = snprintf(line, sizeof line,
			 "{\"frames\": %20llu, \"blocks\": %20llu, \"loud_blocks\": %20llu, \"sumsq\": %30.1f, \"peak\": %6d, \"opens\": %6u}\n",
			 (unsigned long long)v->m_frames, (unsigned long long)v->m_blocks, (unsigned long long)v->m_loud, v->m_sumsq,
			 v->m_peak, v->m_opens);
	if (n > 0 && pwrite(v->m_fd, line, (size_t)n, 0) != n) { /* a benchmark instrument: the next write retries */ }
	v->m_written = v->m_frames;
}

static void meter_open(vcard_t *v)
{
	char line[256];
	ssize_t n = pread(v->m_fd, line, sizeof line - 1, 0);
	if (n > 0) {
		unsigned long long frames, blocks, loud;
		line[n] = 0;
		if (sscanf(line, "{\"frames\": %llu, \"blocks\": %llu, \"loud_blocks\": %llu, \"sumsq\": %lf, \"peak\": %d, \"opens\": %u}",
			   &frames, &blocks, &loud, &v->m_sumsq, &v->m_peak, &v->m_opens) == 6) {
			v->m_frames = frames;
			v->m_blocks = blocks;
			v->m_loud = loud;
		}
	}
	v->m_opens++;
	meter_write(v);
}

/* Per 10 ms block, in integers: the loop has no chain of floating-point adds through it and
 * vectorises, so metering costs the player it runs in a few µs a second. */
static void meter_add(vcard_t *v, const char *samples, snd_pcm_uframes_t frames)
{
	const unsigned channels = v->io.channels, block = v->io.rate / 100;
	const int s16 = v->io.format == SND_PCM_FORMAT_S16_LE;
	snd_pcm_uframes_t done = 0;
	while (done < frames) {
		const snd_pcm_uframes_t n = frames - done < block - v->m_block_frames ? frames - done : block - v->m_block_frames;
		const size_t first = done * channels, count = n * channels;
		int64_t sum = 0;
		int peak = v->m_peak;
		if (s16) {
			const int16_t *x = (const int16_t *)samples + first;
			for (size_t i = 0; i < count; i++) {
				const int a = x[i] < 0 ? -x[i] : x[i];
				sum += a * a;
				peak = a > peak ? a : peak;
			}
		} else {
			for (size_t i = 0; i < count; i++) {
				const int x = sample_at(v, samples, first + i) >> 16, a = x < 0 ? -x : x;
				sum += a * a;
				peak = a > peak ? a : peak;
			}
		}
		v->m_block_sumsq += sum;
		v->m_peak = peak;
		v->m_block_frames += n;
		done += n;
		if (v->m_block_frames == block) {
			v->m_blocks++;
			if (v->m_block_sumsq > (int64_t)33 * 33 * block * channels)
				v->m_loud++;
			v->m_sumsq += (double)v->m_block_sumsq;
			v->m_block_sumsq = 0;
			v->m_block_frames = 0;
		}
	}
	v->m_frames += frames;
	if (v->m_frames - v->m_written >= v->io.rate / 4)
		meter_write(v);
}

static int vcard_start(snd_pcm_ioplug_t *io)
{
	vcard_t *v = io->private_data;
	v->run_start_ns = now_ns();
	v->consumed = 0;
	if (v->wav) {
		int64_t leaves_dac = v->run_start_ns + v->delay_us * 1000LL;
		if (v->t0_ns == 0)
			v->t0_ns = leaves_dac;
		/* Silence for the time nothing played, so the file stays one timeline. The frames
		 * written since prepare (alsa-lib transfers before it starts the card) move after it. */
		uint64_t position = (uint64_t)((leaves_dac - v->t0_ns) / 1e9 * effective_rate(v) + 0.5);
		if (position > v->run_base) {
			size_t bytes_per_frame = sample_bytes(v) * v->io.channels;
			uint64_t pending = v->recorded - v->run_base;
			char *held = pending ? malloc(pending * bytes_per_frame) : NULL;
			if (held) {
				fseek(v->wav, 44 + (long)(v->run_base * bytes_per_frame), SEEK_SET);
				if (fread(held, bytes_per_frame, pending, v->wav) != pending) { /* short file: keep what was read */ }
			}
			fseek(v->wav, 44 + (long)(v->run_base * bytes_per_frame), SEEK_SET);
			v->recorded = v->run_base;
			write_silence(v, position - v->run_base);
			if (held) {
				fwrite(held, bytes_per_frame, pending, v->wav);
				v->recorded += pending;
				free(held);
			}
		}
	}
	return 0;
}

static int vcard_stop(snd_pcm_ioplug_t *io) { (void)io; return 0; }

static snd_pcm_sframes_t vcard_pointer(snd_pcm_ioplug_t *io)
{
	vcard_t *v = io->private_data;
	if (card_state(v->state) == 'g')
		return -ENODEV;
	if (io->state == SND_PCM_STATE_RUNNING || io->state == SND_PCM_STATE_DRAINING) {
		uint64_t due = frames_due(v);
		snd_pcm_uframes_t queued = snd_pcm_ioplug_hw_avail(io, io->hw_ptr, io->appl_ptr);
		if (due > v->consumed + queued) {
			if (io->state == SND_PCM_STATE_RUNNING) {
				/* The DAC wanted frames the application had not written: an underrun. */
				v->consumed += queued;
				if (v->underruns < sizeof v->underrun_ns / sizeof v->underrun_ns[0])
					v->underrun_ns[v->underruns] = v->run_start_ns + (int64_t)(v->consumed / effective_rate(v) * 1e9);
				v->underruns++;
				return -EPIPE;
			}
			due = v->consumed + queued;  /* draining: stop at the last frame */
		}
		v->consumed = due;
	}
	return v->consumed % io->buffer_size;
}

static snd_pcm_sframes_t vcard_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
					 snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	vcard_t *v = io->private_data;
	const char *base = (const char *)areas[0].addr + (areas[0].first + areas[0].step * offset) / 8;
	size_t count = size * io->channels;
	/* For the recording's sidecar only: a benchmark's metered card costs the player nothing more. */
	for (size_t i = 0; v->wav && i < count; i++) {
		int x = abs(sample_at(v, base, i) >> 16);
		if (x > v->written_peak)
			v->written_peak = x;
	}
	if (v->mixer && (v->mixer->value != VMIXER_MAX || !v->mixer->on)) {
		/* The DAC's volume: what leaves it is scaled (and rounded), or silent when switched off. */
		if (v->scaled_frames < size) {
			free(v->scaled);
			v->scaled = malloc(size * io->channels * 4);
			v->scaled_frames = v->scaled ? size : 0;
		}
		if (v->scaled) {
			double gain = v->mixer->on ? pow(10.0, (v->mixer->value - VMIXER_MAX) * 0.5 / 20.0) : 0.0;
			for (size_t i = 0; i < count; i++)
				put_sample(v, v->scaled, i, (int32_t)lrint(sample_at(v, base, i) * gain));
			base = v->scaled;
		}
	}
	if (v->wav) {
		/* Frames play in the order written; at an underrun every frame written had played. */
		fwrite(base, sample_bytes(v) * io->channels, size, v->wav);
		v->recorded += size;
	}
	if (v->m_fd >= 0)
		meter_add(v, base, size);
	return size;
}

static int vcard_prepare(snd_pcm_ioplug_t *io)
{
	vcard_t *v = io->private_data;
	if (card_state(v->state) == 'g')
		return -ENODEV;
	struct itimerspec its = {0};
	long long ns = (long long)(io->period_size * 1e9 / effective_rate(v));
	v->consumed = 0;
	v->run_base = v->recorded;
	its.it_interval.tv_sec = ns / 1000000000LL;
	its.it_interval.tv_nsec = ns % 1000000000LL;
	its.it_value = its.it_interval;
	timerfd_settime(v->timer, 0, &its, NULL);
	return 0;
}

/* The queue as of now (ioplug does not update the pointer before asking for the delay), plus
 * the fixed hardware delay, rounded to the nearest frame: truncated, a slow card's 500 µs
 * (23.996 frames at -150 ppm) was reported as 23, and a receiver that believed it played that
 * card 21 µs late. */
static int vcard_delay(snd_pcm_ioplug_t *io, snd_pcm_sframes_t *delayp)
{
	vcard_t *v = io->private_data;
	snd_pcm_sframes_t hw = (snd_pcm_sframes_t)lround(v->delay_us * effective_rate(v) / 1e6);
	snd_pcm_uframes_t queued = snd_pcm_ioplug_hw_avail(io, io->hw_ptr, io->appl_ptr);
	if (io->state == SND_PCM_STATE_RUNNING) {
		uint64_t due = frames_due(v);
		uint64_t played = due > v->consumed ? due - v->consumed : 0;
		queued = played < queued ? queued - played : 0;
	}
	*delayp = (snd_pcm_sframes_t)queued + hw;
	return 0;
}

/* The timer makes the descriptor readable; the application waits for writable. */
static int vcard_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds, unsigned short *revents)
{
	vcard_t *v = io->private_data;
	uint64_t ticks;
	(void)pfd; (void)nfds;
	if (read(v->timer, &ticks, sizeof ticks) < 0) { /* no tick pending */ }
	snd_pcm_sframes_t avail = snd_pcm_avail_update(io->pcm);
	if (avail < 0)
		*revents = POLLOUT | POLLERR;
	else
		*revents = (snd_pcm_uframes_t)avail >= io->period_size ? POLLOUT : 0;
	return 0;
}

static int vcard_close(snd_pcm_ioplug_t *io)
{
	vcard_t *v = io->private_data;
	if (v->wav) {
		write_wav_header(v);
		fclose(v->wav);
		FILE *side = fopen(v->sidecar, "w");
		if (side) {
			fprintf(side, "{\"t0_monotonic_ns\": %lld, \"effective_rate\": %.6f, \"rate\": %u, \"channels\": %u, "
				      "\"format\": \"%s\", \"ppm\": %.3f, \"delay_us\": %ld, \"burst\": %lu, \"frames\": %llu, \"written_peak\": %d, \"underruns\": %u, \"underrun_times_ns\": [",
				(long long)v->t0_ns, effective_rate(v), io->rate, io->channels, snd_pcm_format_name(io->format), v->ppm, v->delay_us,
				(unsigned long)v->burst, (unsigned long long)v->recorded, v->written_peak, v->underruns);
			for (unsigned i = 0; i < v->underruns && i < sizeof v->underrun_ns / sizeof v->underrun_ns[0]; i++)
				fprintf(side, "%s%lld", i ? ", " : "", (long long)v->underrun_ns[i]);
			fprintf(side, "]}\n");
			fclose(side);
		}
		free(v->sidecar);
	}
	if (v->m_fd >= 0) {
		meter_write(v);
		close(v->m_fd);
	}
	close(v->timer);
	free(v->state);
	free(v->scaled);
	free(v);
	return 0;
}

static const snd_pcm_ioplug_callback_t vcard_callbacks = {
	.start = vcard_start,
	.stop = vcard_stop,
	.pointer = vcard_pointer,
	.transfer = vcard_transfer,
	.prepare = vcard_prepare,
	.delay = vcard_delay,
	.poll_revents = vcard_poll_revents,
	.close = vcard_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(vcard)
{
	snd_config_iterator_t i, next;
	double ppm = 0;
	long delay_us = 0, burst = 1, period_frames = 0, buffer_frames = 0, channels = 0, rate = 0;
	const char *record = NULL, *meter = NULL, *state = NULL, *mixer = NULL, *formats = NULL;
	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "ppm")) {
			long l;
			if (snd_config_get_real(n, &ppm) < 0 && snd_config_get_integer(n, &l) == 0)
				ppm = l;
			continue;
		}
		if (!strcmp(id, "delay_us") && snd_config_get_integer(n, &delay_us) == 0)
			continue;
		if (!strcmp(id, "burst") && snd_config_get_integer(n, &burst) == 0 && burst >= 1)
			continue;
		if (!strcmp(id, "record") && snd_config_get_string(n, &record) == 0)
			continue;
		if (!strcmp(id, "meter") && snd_config_get_string(n, &meter) == 0)
			continue;
		if (!strcmp(id, "state") && snd_config_get_string(n, &state) == 0)
			continue;
		if (!strcmp(id, "mixer") && snd_config_get_string(n, &mixer) == 0)
			continue;
		if (!strcmp(id, "formats") && snd_config_get_string(n, &formats) == 0)
			continue;
		if (!strcmp(id, "period_frames") && snd_config_get_integer(n, &period_frames) == 0 && period_frames >= 16)
			continue;
		if (!strcmp(id, "buffer_frames") && snd_config_get_integer(n, &buffer_frames) == 0 && buffer_frames >= 32)
			continue;
		if (!strcmp(id, "channels") && snd_config_get_integer(n, &channels) == 0 && channels >= 1 && channels <= 8)
			continue;
		if (!strcmp(id, "rate") && snd_config_get_integer(n, &rate) == 0 && rate >= 8000 && rate <= 192000)
			continue;
		SNDERR("vcard: unknown or invalid field %s", id);
		return -EINVAL;
	}
	if (stream != SND_PCM_STREAM_PLAYBACK)
		return -ENOTSUP;
	switch (card_state(state)) {
	case 'g': return -ENODEV;
	case 'b': return -EBUSY;
	}
	vcard_t *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	v->state = state ? strdup(state) : NULL;
	v->mixer = mixer ? vmixer_named(mixer) : NULL;
	v->ppm = ppm;
	v->delay_us = delay_us;
	v->burst = (snd_pcm_uframes_t)burst;
	v->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (record) {
		v->wav = fopen(record, "w+");
		v->sidecar = malloc(strlen(record) + 6);
		if (!v->wav || !v->sidecar) {
			SNDERR("vcard: cannot record to %s", record);
			if (v->wav) fclose(v->wav);
			free(v->sidecar);
			close(v->timer);
			free(v->state);
			free(v);
			return -EIO;
		}
		sprintf(v->sidecar, "%s.json", record);
		/* The header's place: the samples start after it (it is filled in at close). */
		write_wav_header(v);
	}
	v->m_fd = meter ? open(meter, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
	if (meter && v->m_fd < 0) {
		SNDERR("vcard: cannot write the meter %s", meter);
		if (v->wav) { fclose(v->wav); free(v->sidecar); }
		close(v->timer);
		free(v->state);
		free(v);
		return -EIO;
	}
	v->io.version = SND_PCM_IOPLUG_VERSION;
	v->io.name = "vcard (virtual sound card)";
	v->io.callback = &vcard_callbacks;
	v->io.private_data = v;
	v->io.poll_fd = v->timer;
	v->io.poll_events = POLLIN;
	v->io.mmap_rw = 0;
	v->io.flags = SND_PCM_IOPLUG_FLAG_MONOTONIC;
	int err = snd_pcm_ioplug_create(&v->io, name, stream, mode);
	if (err < 0) {
		if (v->wav) { fclose(v->wav); free(v->sidecar); }
		if (v->m_fd >= 0) close(v->m_fd);
		close(v->timer);
		free(v->state);
		free(v);
		return err;
	}
	static const unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED, SND_PCM_ACCESS_MMAP_INTERLEAVED };
	unsigned int format[4], nformats = 0;
	if (formats) {
		char list[128];
		snprintf(list, sizeof list, "%s", formats);
		for (char *save = NULL, *word = strtok_r(list, " ", &save); word && nformats < 4; word = strtok_r(NULL, " ", &save)) {
			snd_pcm_format_t f = snd_pcm_format_value(word);
			if (f != SND_PCM_FORMAT_S16_LE && f != SND_PCM_FORMAT_S24_LE && f != SND_PCM_FORMAT_S24_3LE && f != SND_PCM_FORMAT_S32_LE) {
				SNDERR("vcard: format %s is not one it plays", word);
				snd_pcm_ioplug_delete(&v->io);
				return -EINVAL;
			}
			format[nformats++] = f;
		}
	}
	if (!nformats)
		format[nformats++] = SND_PCM_FORMAT_S16_LE;
	/* ioplug constrains periods and buffers in bytes: frames of `channels` 16-bit samples (the
	 * fixed sizes are for S16 cards). */
	unsigned int frame_bytes = 2 * (channels ? channels : 2);
	unsigned int period_min = period_frames ? period_frames * frame_bytes : 64, period_max = period_frames ? period_min : 1 << 20;
	unsigned int buffer_min = buffer_frames ? buffer_frames * frame_bytes : 256, buffer_max = buffer_frames ? buffer_min : 4 << 20;
	if ((err = snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_ACCESS, 2, access)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_FORMAT, nformats, format)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_CHANNELS, channels ? channels : 1, channels ? channels : 8)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_RATE, rate ? rate : 8000, rate ? rate : 192000)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, period_min, period_max)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, buffer_min, buffer_max)) < 0) {
		snd_pcm_ioplug_delete(&v->io);
		return err;
	}
	if (v->m_fd >= 0)
		meter_open(v);
	*pcmp = v->io.pcm;
	return 0;
}
SND_PCM_PLUGIN_SYMBOL(vcard);

/* The control plugin: the card's two mixer elements. */
enum { VCTL_VOLUME, VCTL_SWITCH, VCTL_COUNT };
static const char *const vctl_names[VCTL_COUNT] = { "Digital Playback Volume", "Digital Playback Switch" };
/* dB scale: -103.50 dB at 0, 0.50 dB a step. */
static const unsigned int vctl_tlv[] = { SND_CTL_TLVT_DB_SCALE, 2 * sizeof(unsigned int), (unsigned int)-10350, 50 };

typedef struct { snd_ctl_ext_t ext; vmixer_t *mixer; int event; } vctl_t;

static void vctl_close(snd_ctl_ext_t *ext)
{
	vctl_t *c = ext->private_data;
	close(c->event);
	free(c);
}

static int vctl_elem_count(snd_ctl_ext_t *ext) { (void)ext; return VCTL_COUNT; }

static int vctl_elem_list(snd_ctl_ext_t *ext, unsigned int offset, snd_ctl_elem_id_t *id)
{
	(void)ext;
	if (offset >= VCTL_COUNT)
		return -EINVAL;
	snd_ctl_elem_id_set_interface(id, SND_CTL_ELEM_IFACE_MIXER);
	snd_ctl_elem_id_set_name(id, vctl_names[offset]);
	return 0;
}

static snd_ctl_ext_key_t vctl_find_elem(snd_ctl_ext_t *ext, const snd_ctl_elem_id_t *id)
{
	(void)ext;
	for (unsigned k = 0; k < VCTL_COUNT; k++)
		if (!strcmp(snd_ctl_elem_id_get_name(id), vctl_names[k]))
			return k;
	return SND_CTL_EXT_KEY_NOT_FOUND;
}

static int vctl_get_attribute(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, int *type, unsigned int *acc, unsigned int *count)
{
	(void)ext;
	*type = key == VCTL_VOLUME ? SND_CTL_ELEM_TYPE_INTEGER : SND_CTL_ELEM_TYPE_BOOLEAN;
	*acc = SND_CTL_EXT_ACCESS_READWRITE | (key == VCTL_VOLUME ? SND_CTL_EXT_ACCESS_TLV_READ : 0);
	*count = 1;
	return 0;
}

static int vctl_get_integer_info(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *imin, long *imax, long *istep)
{
	(void)ext;
	*imin = 0;
	*imax = key == VCTL_VOLUME ? VMIXER_MAX : 1;
	*istep = 1;
	return 0;
}

static int vctl_read_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	vctl_t *c = ext->private_data;
	*value = key == VCTL_VOLUME ? c->mixer->value : c->mixer->on;
	return 0;
}

static int vctl_write_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	vctl_t *c = ext->private_data;
	long *field = key == VCTL_VOLUME ? &c->mixer->value : &c->mixer->on;
	long v = *value < 0 ? 0 : *value > (key == VCTL_VOLUME ? VMIXER_MAX : 1) ? (key == VCTL_VOLUME ? VMIXER_MAX : 1) : *value;
	if (*field == v)
		return 0;
	*field = v;
	return 1;
}

static int vctl_read_event(snd_ctl_ext_t *ext, snd_ctl_elem_id_t *id, unsigned int *event_mask)
{
	(void)ext; (void)id; (void)event_mask;
	return -EAGAIN;
}

static const snd_ctl_ext_callback_t vctl_callbacks = {
	.close = vctl_close,
	.elem_count = vctl_elem_count,
	.elem_list = vctl_elem_list,
	.find_elem = vctl_find_elem,
	.get_attribute = vctl_get_attribute,
	.get_integer_info = vctl_get_integer_info,
	.read_integer = vctl_read_integer,
	.write_integer = vctl_write_integer,
	.read_event = vctl_read_event,
};

SND_CTL_PLUGIN_DEFINE_FUNC(vcard)
{
	snd_config_iterator_t i, next;
	const char *mixer = NULL;
	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "mixer") && snd_config_get_string(n, &mixer) == 0)
			continue;
		SNDERR("vcard control: unknown or invalid field %s", id);
		return -EINVAL;
	}
	vctl_t *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->mixer = vmixer_named(mixer ? mixer : name);
	c->event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!c->mixer || c->event < 0) {
		if (c->event >= 0) close(c->event);
		free(c);
		return -ENOMEM;
	}
	c->ext.version = SND_CTL_EXT_VERSION;
	c->ext.card_idx = 0;
	snprintf(c->ext.id, sizeof c->ext.id, "vcard");
	snprintf(c->ext.driver, sizeof c->ext.driver, "vcard");
	snprintf(c->ext.name, sizeof c->ext.name, "vcard");
	snprintf(c->ext.longname, sizeof c->ext.longname, "vcard (virtual sound card)");
	snprintf(c->ext.mixername, sizeof c->ext.mixername, "vcard");
	c->ext.poll_fd = c->event;
	c->ext.callback = &vctl_callbacks;
	c->ext.private_data = c;
	c->ext.tlv.p = vctl_tlv;
	int err = snd_ctl_ext_create(&c->ext, name, mode);
	if (err < 0) {
		close(c->event);
		free(c);
		return err;
	}
	*handlep = c->ext.handle;
	return 0;
}
SND_CTL_PLUGIN_SYMBOL(vcard);
