#!/usr/bin/env bash
# Receiver CPU % and peak RSS, side by side in one run (DESIGN §9):
#   snapserver -> snapclient   (Debian's Snapcast, Opus at snapserver's defaults: 192 kbit/s, complexity 10)
#   mshost     -> msrecv       (Opus 192 kbit/s, 20 ms frames)
# both playing the same generated 48 kHz stereo S16 music-like loop, over 127.0.0.1, each receiver
# into an ALSA `file` PCM (records what it was given) whose slave is a sink of the same kind.
#
# Usage: scripts/bench-vs-snapcast.sh [--snapcast-only] [DURATION_SECONDS]
# Env:   DURATION=60       measured window (s); the first argument overrides it
#        WARMUP=3          seconds excluded after both receivers produce output
#        BIN_DIR=.build/release   where mshost and msrecv are (relative to the repo root)
#        BENCH_SINK=paced  paced: the file PCM's slave is a paced virtual card (an ALSA ioplug
#                          plugin compiled here from the C below: consumes frames at CLOCK_MONOTONIC
#                          rate, underruns like a card); null: slave "null" (unpaced; snapclient
#                          spins on it, see the note the report prints)
#        SNAP_PORT=17704 SNAP_RPC_PORT=17705 SNAP_HTTP_PORT=17780 MS_PORT=18080   loopback ports
#        MS_BUFFER=1s      msrecv's receiving.buffer_size; 1s matches snapserver's default 1000 ms
#                          buffer, so both play at the same latency
#        KEEP_TMP=1        keep the temp dir (configs, logs, recordings)
# Output: a table, the msrecv/snapclient ratios with PASS/MISS against the targets (CPU <= 0.5x,
# peak RSS <= 0.7x), and one machine-readable line starting with "BENCH_SUMMARY {json}".
# Exit: 0 measured (PASS or MISS), 2 setup error (e.g. binaries missing), 3 a row invalid.
# Installs its own Debian packages when missing (snapserver snapclient python3, and gcc
# libc6-dev libasound2-dev for the paced sink). Needs root for that (or sudo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
helper="$here/bench_vs_snapcast.py"

snapcast_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --snapcast-only) snapcast_only=1 ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) DURATION="$1" ;;
    *) echo "bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-3}"
MS_BUFFER="${MS_BUFFER:-1s}"
BIN_DIR="${BIN_DIR:-.build/release}"
case "$BIN_DIR" in /*) ;; *) BIN_DIR="$repo/$BIN_DIR" ;; esac
BENCH_SINK="${BENCH_SINK:-paced}"
SNAP_PORT="${SNAP_PORT:-17704}"
SNAP_RPC_PORT="${SNAP_RPC_PORT:-17705}"
SNAP_HTTP_PORT="${SNAP_HTTP_PORT:-17780}"
MS_PORT="${MS_PORT:-18080}"
SOURCE_SECONDS=8

log() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 2; }

case "$BENCH_SINK" in paced|null) ;; *) die "BENCH_SINK must be 'paced' or 'null'" ;; esac
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 5 ] || die "DURATION must be an integer >= 5"

# ------------------------------------------------------------------ Moosync binaries
mshost="$BIN_DIR/mshost"
msrecv="$BIN_DIR/msrecv"
if [ "$snapcast_only" -eq 0 ]; then
  missing=()
  for b in "$mshost" "$msrecv"; do [ -x "$b" ] || missing+=("$b"); done
  if [ ${#missing[@]} -gt 0 ]; then
    die "Moosync binaries missing: ${missing[*]}
  build them first:   swift build -c release        (or set BIN_DIR=/path/to/dir)
  or measure only Snapcast:   $0 --snapcast-only [DURATION]"
  fi
fi

# ------------------------------------------------------------------ Debian packages
pkgs=(snapserver snapclient python3 iproute2 util-linux)
[ "$BENCH_SINK" = paced ] && pkgs+=(gcc libc6-dev libasound2-dev)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
PY="$(command -v python3)"

# ------------------------------------------------------------------ ports
port_busy() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
wait_listen() { # PORT SECONDS PID: until PORT listens; fails at once if PID exited
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_busy "$1" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
ports=("$SNAP_PORT" "$SNAP_RPC_PORT" "$SNAP_HTTP_PORT")
[ "$snapcast_only" -eq 0 ] && ports+=("$MS_PORT")
for p in "${ports[@]}"; do port_busy "$p" && die "port $p on this machine is already in use (set SNAP_*PORT / MS_PORT)"; done

# ------------------------------------------------------------------ temp dir, cleanup
T="$(mktemp -d /tmp/bench-vs-snapcast.XXXXXX)"
declare -A PID=()
stop_all() { # QUIET(0|1): SIGTERM each process we started, by PID; SIGKILL after 5 s
  local quiet="$1" name pid i rc
  for name in msrecv snapclient feeder mshost snapserver; do
    pid="${PID[$name]:-}"; [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in msrecv snapclient feeder mshost snapserver; do
    pid="${PID[$name]:-}"; [ -n "$pid" ] || continue
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      [ "$quiet" = 1 ] || log "$name (pid $pid) ignored SIGTERM for 5 s: killed"
    fi
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    [ "$quiet" = 1 ] || [ "$name" = feeder ] || log "$name stopped, exit status $rc$([ $rc -eq 143 ] && echo ' (killed by SIGTERM, no handler)')"
    unset "PID[$name]"
  done
}
cleanup() {
  stop_all 1
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ source
"$PY" "$helper" gen "$T/music.wav" "$T/music.raw" "$SOURCE_SECONDS"

# ------------------------------------------------------------------ ALSA sink
if [ "$BENCH_SINK" = paced ]; then
  mkdir -p "$T/plug"
  cat > "$T/plug/pcm_benchpaced.c" <<'EOF'
/* A paced ALSA playback PCM (ioplug) for benchmarks: it consumes frames at CLOCK_MONOTONIC rate
 * like a real card (an underrun is -EPIPE when the application is late), wakes pollers once per
 * period through a timerfd, and discards the samples (a `type file` PCM on top records them). */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <sys/timerfd.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

typedef struct {
	snd_pcm_ioplug_t io;
	int tfd;
	struct timespec t0;
	unsigned long long consumed; /* frames played since start */
} paced_t;

static unsigned long long elapsed_frames(paced_t *p)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long double s = (now.tv_sec - p->t0.tv_sec) + (now.tv_nsec - p->t0.tv_nsec) / 1e9L;
	return (unsigned long long)(s * p->io.rate);
}

static int paced_start(snd_pcm_ioplug_t *io)
{
	paced_t *p = io->private_data;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	p->consumed = 0;
	return 0;
}

static int paced_stop(snd_pcm_ioplug_t *io) { (void)io; return 0; }

static snd_pcm_sframes_t paced_pointer(snd_pcm_ioplug_t *io)
{
	paced_t *p = io->private_data;
	if (io->state != SND_PCM_STATE_RUNNING && io->state != SND_PCM_STATE_DRAINING)
		return p->consumed % io->buffer_size;
	unsigned long long target = elapsed_frames(p);
	unsigned long long delta = target > p->consumed ? target - p->consumed : 0;
	snd_pcm_uframes_t queued = snd_pcm_ioplug_hw_avail(io, io->hw_ptr, io->appl_ptr);
	if (delta > queued) {
		if (io->state == SND_PCM_STATE_RUNNING)
			return -EPIPE;
		delta = queued;
	}
	if (delta >= io->buffer_size)
		delta = io->buffer_size - 1;
	p->consumed += delta;
	return p->consumed % io->buffer_size;
}

static snd_pcm_sframes_t paced_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
					snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	(void)io; (void)areas; (void)offset;
	return size;
}

static int paced_prepare(snd_pcm_ioplug_t *io)
{
	paced_t *p = io->private_data;
	struct itimerspec its = {0};
	long long ns = (long long)io->period_size * 1000000000LL / io->rate;
	p->consumed = 0;
	its.it_interval.tv_sec = ns / 1000000000LL;
	its.it_interval.tv_nsec = ns % 1000000000LL;
	its.it_value = its.it_interval;
	timerfd_settime(p->tfd, 0, &its, NULL);
	return 0;
}

static int paced_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
			      unsigned short *revents)
{
	paced_t *p = io->private_data;
	unsigned long long ticks;
	(void)pfd; (void)nfds;
	if (read(p->tfd, &ticks, sizeof ticks) < 0) { /* no tick pending */ }
	snd_pcm_sframes_t avail = snd_pcm_avail_update(io->pcm);
	if (avail < 0)
		*revents = POLLOUT | POLLERR;
	else
		*revents = (snd_pcm_uframes_t)avail >= io->period_size ? POLLOUT : 0;
	return 0;
}

static int paced_close(snd_pcm_ioplug_t *io)
{
	paced_t *p = io->private_data;
	close(p->tfd);
	free(p);
	return 0;
}

static const snd_pcm_ioplug_callback_t paced_cb = {
	.start = paced_start,
	.stop = paced_stop,
	.pointer = paced_pointer,
	.transfer = paced_transfer,
	.prepare = paced_prepare,
	.poll_revents = paced_poll_revents,
	.close = paced_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(benchpaced)
{
	snd_config_iterator_t i, next;
	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		SNDERR("Unknown field %s", id);
		return -EINVAL;
	}
	if (stream != SND_PCM_STREAM_PLAYBACK)
		return -ENOTSUP;
	paced_t *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->tfd < 0) {
		free(p);
		return -errno;
	}
	p->io.version = SND_PCM_IOPLUG_VERSION;
	p->io.name = "benchpaced (paced virtual sink)";
	p->io.callback = &paced_cb;
	p->io.private_data = p;
	p->io.poll_fd = p->tfd;
	p->io.poll_events = POLLIN;
	p->io.mmap_rw = 0;
	p->io.flags = SND_PCM_IOPLUG_FLAG_MONOTONIC;
	int err = snd_pcm_ioplug_create(&p->io, name, stream, mode);
	if (err < 0) {
		close(p->tfd);
		free(p);
		return err;
	}
	static const unsigned int acc[] = { SND_PCM_ACCESS_RW_INTERLEAVED, SND_PCM_ACCESS_MMAP_INTERLEAVED };
	static const unsigned int fmt[] = { SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S32_LE,
					    SND_PCM_FORMAT_FLOAT_LE, SND_PCM_FORMAT_S24_3LE };
	if ((err = snd_pcm_ioplug_set_param_list(&p->io, SND_PCM_IOPLUG_HW_ACCESS, 2, acc)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(&p->io, SND_PCM_IOPLUG_HW_FORMAT, 4, fmt)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 8)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_RATE, 8000, 192000)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 256, 4 << 20)) < 0) {
		snd_pcm_ioplug_delete(&p->io);
		return err;
	}
	*pcmp = p->io.pcm;
	return 0;
}
SND_PCM_PLUGIN_SYMBOL(benchpaced);
EOF
  gcc -O2 -Wall -DPIC -shared -fPIC -o "$T/plug/libasound_module_pcm_benchpaced.so" \
    "$T/plug/pcm_benchpaced.c" -lasound || die "could not compile the paced ALSA sink (or run with BENCH_SINK=null)"
  slave="benchpaced"
  {
    echo "pcm_type.benchpaced { lib \"$T/plug/libasound_module_pcm_benchpaced.so\" }"
    echo "pcm.benchpaced { type benchpaced }"
  } > "$T/common.conf"
else
  slave="null"
  : > "$T/common.conf"
fi
# one ALSA config per side, both naming the device "benchout"; system alsa.conf stays first.
# truncate false: a receiver that reopens the device appends instead of restarting the recording
for side in snap ms; do
  cat > "$T/$side.conf" <<EOF
pcm.benchout {
  type file
  slave.pcm "$slave"
  file "$T/$side.raw"
  format "raw"
  truncate false
}
EOF
done
export_alsa() { echo "/usr/share/alsa/alsa.conf:$T/common.conf:$T/$1.conf"; }

# ------------------------------------------------------------------ Snapcast side
mkdir -p "$T/snapdata"
mkfifo "$T/snapfifo"
cat > "$T/snapserver.conf" <<EOF
[server]
datadir = $T/snapdata
[http]
bind_to_address = 127.0.0.1
port = $SNAP_HTTP_PORT
[tcp]
bind_to_address = 127.0.0.1
port = $SNAP_RPC_PORT
[stream]
bind_to_address = 127.0.0.1
port = $SNAP_PORT
source = pipe://$T/snapfifo?name=bench&mode=read&codec=opus&sampleformat=48000:16:2&chunk_ms=20
[logging]
sink = stderr
filter = *:info
EOF
snap_ver="$(dpkg-query -W -f='${Version}' snapserver 2>/dev/null || echo '?')"

HOME="$T" ALSA_CONFIG_PATH="$(export_alsa snap)" snapserver -c "$T/snapserver.conf" 2> "$T/snapserver.log" >&2 &
PID[snapserver]=$!
# the paced feeder (a real-time writer into snapserver's pipe; it is not measured)
ALSA_CONFIG_PATH="$(export_alsa snap)" "$PY" "$helper" feed "$T/music.raw" "$T/snapfifo" 2> "$T/feeder.log" &
PID[feeder]=$!

# ------------------------------------------------------------------ Moosync side
if [ "$snapcast_only" -eq 0 ]; then
  cat > "$T/host.json" <<EOF
{"sharing": {"enabled": true, "device_name": "bench", "password_required": false, "max_clients": 4,
  "port": $MS_PORT, "source": "wav:$T/music.wav", "loop": true, "frame_ms": 20,
  "audio_quality": {"codec": "opus", "bitrate": 192000, "sample_rate": 48000, "channels": 2}}}
EOF
  cat > "$T/recv.json" <<EOF
{"receiving": {"enabled": true, "auto_discover": false, "host": "127.0.0.1:$MS_PORT",
  "buffer_size": "$MS_BUFFER", "audio_output": {"device_id": "benchout"}}}
EOF
  HOME="$T" ALSA_CONFIG_PATH="$(export_alsa ms)" "$mshost" --config "$T/host.json" 2> "$T/mshost.log" >&2 &
  PID[mshost]=$!
fi

wait_listen "$SNAP_PORT" 10 "${PID[snapserver]}" || { tail -n 20 "$T/snapserver.log" >&2; die "snapserver is not listening on 127.0.0.1:$SNAP_PORT"; }
HOME="$T" ALSA_CONFIG_PATH="$(export_alsa snap)" snapclient -h 127.0.0.1 -p "$SNAP_PORT" --hostID bench-snapclient \
  --player alsa -s benchout --logsink stderr 2> "$T/snapclient.log" >&2 &
PID[snapclient]=$!
if [ "$snapcast_only" -eq 0 ]; then
  wait_listen "$MS_PORT" 10 "${PID[mshost]}" || { tail -n 20 "$T/mshost.log" >&2; die "mshost is not listening on 127.0.0.1:$MS_PORT"; }
  HOME="$T" ALSA_CONFIG_PATH="$(export_alsa ms)" "$msrecv" --config "$T/recv.json" 2> "$T/msrecv.log" >&2 &
  PID[msrecv]=$!
fi

# ------------------------------------------------------------------ recordings: wait, guard the disk
sides=(snap); [ "$snapcast_only" -eq 0 ] && sides+=(ms)
size_of() { local n _; read -r n _ < <("$PY" "$helper" recsize "$T/$1.raw"); echo "$n"; }
guard_disk() { # an unpaced sink can write hundreds of MB/s: keep the apparent size, free all but the last 32 MB
  local f size blocks
  for f in "$T"/snap.raw* "$T"/ms.raw*; do
    [ -f "$f" ] || continue
    read -r size blocks < <(stat -c '%s %b' "$f")
    if [ $((blocks * 512)) -gt $((256 << 20)) ]; then
      fallocate -p -o 0 -l $((size - (32 << 20))) "$f" 2>/dev/null || truncate -s 0 "$f"
    fi
  done
}
alive_check() {
  local name
  for name in "${!PID[@]}"; do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      log "$name exited early; its log ends with:"; tail -n 15 "$T/$name.log" | sed 's/^/    /' >&2
      unset "PID[$name]"
      DEAD+=("$name")
    fi
  done
}
DEAD=()
log "waiting for the receivers' first output (up to 20 s)"
for ((i = 0; i < 200; i++)); do
  ok=1
  for s in "${sides[@]}"; do [ "$(size_of "$s")" -gt 0 ] || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.1
done
for s in "${sides[@]}"; do [ "$(size_of "$s")" -gt 0 ] || log "no output yet from the $s receiver after 20 s"; done
sleep "$WARMUP"
guard_disk; alive_check

# ------------------------------------------------------------------ measure
pairs() {
  local name
  for name in snapserver snapclient mshost msrecv; do
    [ -n "${PID[$name]:-}" ] && printf '%s=%s ' "$name" "${PID[$name]}"
  done
  return 0
}
# shellcheck disable=SC2046
"$PY" "$helper" snap $(pairs) > "$T/before.json"
for s in "${sides[@]}"; do size_of "$s" > "$T/$s.size0"; done
log "measuring for $DURATION s (sink: $BENCH_SINK)"
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 1
  guard_disk
  alive_check
done
# shellcheck disable=SC2046
"$PY" "$helper" snap $(pairs) > "$T/after.json"
for s in "${sides[@]}"; do size_of "$s" > "$T/$s.size1"; done
for s in "${sides[@]}"; do "$PY" "$helper" audio "$T/$s.raw" "$(cat "$T/$s.size0")" > "$T/$s.audio.json"; done

stop_all 0

{
  echo "sink=$BENCH_SINK (ALSA file PCM -> $slave)"
  echo "warmup=$WARMUP"
  echo "source=${SOURCE_SECONDS} s generated chord loop, 48000 Hz stereo S16LE (snapserver: pipe:// fed at real time; mshost: wav: with loop)"
  echo "snap=snapserver/snapclient $snap_ver, $(grep -o 'OpusEnc) Init.*' "$T/snapserver.log" | head -n 1 | sed 's/OpusEnc) Init - /opus /'), chunk_ms 20, buffer 1000 ms (server default)"
  if [ "$snapcast_only" -eq 1 ]; then
    echo "ms=skipped (--snapcast-only)"; echo "ms_skipped=1"
  else
    echo "ms=$BIN_DIR/{mshost,msrecv}, opus 192000 bps, 20 ms frames, buffer_size $MS_BUFFER"
  fi
} > "$T/meta.env"
if grep -q 'XRUN\|Failed to get chunk' "$T/snapclient.log"; then
  log "snapclient log: $(grep -c 'XRUN' "$T/snapclient.log") XRUN lines, $(grep -c 'Failed to get chunk' "$T/snapclient.log") 'Failed to get chunk' lines"
fi
rc=0
"$PY" "$helper" report "$T" || rc=$?
exit "$rc"
