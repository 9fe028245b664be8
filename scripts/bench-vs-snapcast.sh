#!/usr/bin/env bash
# Receiver CPU % and peak RSS, side by side in one run (DESIGN §9):
#   snapserver -> snapclient   (Debian's Snapcast, Opus at snapserver's defaults: 192 kbit/s, complexity 10)
#   mshost     -> msrecv       (Opus 192 kbit/s, 20 ms frames, over TLS as they are by default,
#                                the receiver admitted by a password)
# both playing the same generated 48 kHz stereo S16 music-like loop, over 127.0.0.1, each receiver
# into its own instance of the same ALSA device: the paced virtual sound card of the tests, which
# meters what it plays (frames, level, silence) without writing it to disk, so neither receiver
# pays for a recording.
#
# Usage: scripts/bench-vs-snapcast.sh [--snapcast-only] [DURATION_SECONDS]
# Env:   DURATION=60       measured window (s); the first argument overrides it
#        WARMUP=3          seconds excluded after both receivers produce output
#        BIN_DIR=.build/release   where mshost and msrecv are (relative to the repo root)
#        BENCH_SINK=paced  paced: the virtual sound card of the tests (Tests/Fixtures/vcard,
#                          compiled here: consumes frames at CLOCK_MONOTONIC rate, underruns like
#                          a card, meters what it plays); null: an ALSA file PCM recording into
#                          slave "null" (unpaced; snapclient spins on it, see the note the report
#                          prints)
#        SNAP_PORT=17704 SNAP_RPC_PORT=17705 SNAP_HTTP_PORT=17780 MS_PORT=18080   loopback ports
#        MS_BUFFER=1s      msrecv's receiving.buffer_size; 1s matches snapserver's default 1000 ms
#                          buffer, so both play at the same latency
#        KEEP_TMP=1        keep the temp dir (configs, logs, recordings)
# Output: a table, the msrecv/snapclient ratios with PASS/MISS against the targets (CPU <= 0.5x,
# peak RSS <= 0.7x), and one machine-readable line starting with "BENCH_SUMMARY {json}".
# Exit: 0 measured (PASS or MISS), 2 setup error (e.g. binaries missing), 3 a row invalid.
# Installs the Debian packages it needs when missing (snapserver snapclient python3, and gcc
# libc6-dev libasound2-dev for the paced sink) with install-deps.sh --only. Needs root for that (or sudo).
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
# The receiver proves a password (SPAKE2+) inside TLS, as a protected house would have it.
MS_PASSWORD="bench-password"
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
bash "$here/install-deps.sh" --only "${pkgs[@]}"
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
  # The card runs inside each receiver's process and is charged to it: -O3 vectorises its meter,
  # so the instrument adds as little as it can to both sides.
  gcc -O3 -Wall -DPIC -shared -fPIC -o "$T/plug/libasound_module_pcm_vcard.so" \
    "$repo/Tests/Fixtures/vcard/pcm_vcard.c" -lasound -lm || die "could not compile the virtual sound card (or run with BENCH_SINK=null)"
  echo "pcm_type.vcard { lib \"$T/plug/libasound_module_pcm_vcard.so\" }" > "$T/common.conf"
  sink_desc="virtual sound card (vcard), metered"
  output() { echo "$T/$1.meter"; }
  for side in snap ms; do
    echo "pcm.benchout { type vcard meter \"$(output $side)\" }" > "$T/$side.conf"
  done
else
  : > "$T/common.conf"
  sink_desc="ALSA file PCM -> null"
  output() { echo "$T/$1.raw"; }
  # truncate false: a receiver that reopens the device appends instead of restarting the recording
  for side in snap ms; do
    cat > "$T/$side.conf" <<EOF
pcm.benchout {
  type file
  slave.pcm "null"
  file "$(output $side)"
  format "raw"
  truncate false
}
EOF
  done
fi
# one ALSA config per side, both naming the device "benchout"; system alsa.conf stays first.
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
{"sharing": {"enabled": true, "device_name": "bench", "password_required": true, "password": "$MS_PASSWORD", "max_clients": 4,
  "port": $MS_PORT, "source": "wav:$T/music.wav", "loop": true, "frame_ms": 20, "state_dir": "$T/state",
  "audio_quality": {"codec": "opus", "bitrate": 192000, "sample_rate": 48000, "channels": 2}}}
EOF
  cat > "$T/recv.json" <<EOF
{"receiving": {"enabled": true, "auto_discover": false, "host": "127.0.0.1:$MS_PORT",
  "buffer_size": "$MS_BUFFER", "password": "$MS_PASSWORD", "state_dir": "$T/state", "audio_output": {"device_id": "benchout", "sample_format": "S16_LE"}}}
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
size_of() { local n _; read -r n _ < <("$PY" "$helper" recsize "$(output "$1")"); echo "$n"; }
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
for s in "${sides[@]}"; do
  size_of "$s" > "$T/$s.size0"
  if [ "$BENCH_SINK" = paced ]; then cp "$(output "$s")" "$(output "$s").start"; fi
done
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
for s in "${sides[@]}"; do "$PY" "$helper" audio "$(output "$s")" "$(cat "$T/$s.size0")" > "$T/$s.audio.json"; done

stop_all 0

{
  echo "sink=$BENCH_SINK ($sink_desc)"
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
