#!/usr/bin/env bash
# The demo a newcomer runs: installs everything, builds, then streams a 440 Hz tone from mshost
# to msrecv on this machine using the shipped config/moosync.json. With no sound card the
# receiver's ALSA "default" device is a recording (ALSA's file plugin), so you can listen to
# what it played; the script says where it is and what it measured in it.
#
#   DEMO_SECONDS=5          how long to stream
#   DEMO_DIR=/tmp/moosync-demo   where the recording and the logs go
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
swift build -c release --product mshost
swift build -c release --product msrecv

out="${DEMO_DIR:-/tmp/moosync-demo}"
seconds="${DEMO_SECONDS:-5}"
mkdir -p "$out"
rm -f "$out/recording.raw" "$out/recording.wav"
# alsa-lib reads the system configuration first, then this one, which turns "default" into a recording.
cat > "$out/asound.conf" <<CONF
pcm.!default { type file slave.pcm "null" file "$out/recording.wav" format "wav" }
CONF
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$out/asound.conf"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The shipped config with its state (keys, certificates, the pinned host) kept here rather than
# in /var/lib/moosync, so the demo needs no root and leaves the machine as it was.
sed "s|\"enabled\": true,|\"enabled\": true, \"state_dir\": \"$out/state\",|" config/moosync.json > "$out/moosync.json"
.build/release/mshost --config "$out/moosync.json" 2> >(tee "$out/mshost.log" >&2) &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on port" "$out/mshost.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on port" "$out/mshost.log" || { echo "demo: mshost did not start (see above)" >&2; exit 1; }

.build/release/msrecv --config "$out/moosync.json" 2> >(tee "$out/msrecv.log" >&2) &
receiver=$!
pids+=($receiver)
sleep "$seconds"
kill -TERM "$receiver"; wait "$receiver" || true
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
trap - EXIT

python3 scripts/measure_recording.py "$out/recording.wav"
