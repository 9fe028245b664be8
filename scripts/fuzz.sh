#!/usr/bin/env bash
# libFuzzer (swiftc -sanitize=fuzzer,address) on the parsers a peer or a config file reaches:
#   frames  the frame reader + the AUDIO header and every message decoder (Core, ProtocolMessages, Transport)
#   json    the config loader (JSON reader + validation) and the WAV parser (Core, Config)
# Each runs FUZZ_SECONDS (default 60) from a seed corpus; prints inputs tried and crashes found.
#   bash scripts/fuzz.sh [frames|json ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
out="$root/.build-fuzz"
targets=("${@:-frames json}")
read -r -a targets <<< "${targets[*]}"
mkdir -p "$out/cmod"

flags=(-parse-as-library -sanitize=fuzzer,address -O -g -I "$out")
# CMoosyncLinux (thread names, signalfd) as SwiftPM would build it.
cat > "$out/cmod/module.modulemap" <<MAP
module CMoosyncLinux { header "$root/Sources/CMoosyncLinux/include/CMoosyncLinux.h" export * }
MAP
build_log="$out/build.log"
: > "$build_log"
quietly() { "$@" >> "$build_log" 2>&1 || { cat "$build_log" >&2; exit 1; }; }  # the linker warns about ASan locals
quietly cc -c -D_GNU_SOURCE -O1 -fsanitize=address -I Sources/CMoosyncLinux/include Sources/CMoosyncLinux/shim.c -o "$out/shim.o"
module() {  # name, sources...
  local name=$1; shift
  quietly swiftc "${flags[@]}" -Xcc -fmodule-map-file="$out/cmod/module.modulemap" -module-name "$name" \
    -emit-module -emit-module-path "$out/$name.swiftmodule" -emit-library -static -o "$out/lib$name.a" "$@"
}
module Core Sources/Core/*.swift
module ProtocolMessages Sources/ProtocolMessages/*.swift
module Transport Sources/Transport/*.swift
module Config Sources/Config/*.swift

status=0
for target in "${targets[@]}"; do
  case "$target" in
    frames) src=Tests/Fuzz/FuzzFrames.swift; libs=("$out/libTransport.a" "$out/libProtocolMessages.a" "$out/libCore.a") ;;
    json) src=Tests/Fuzz/FuzzJSON.swift; libs=("$out/libConfig.a" "$out/libCore.a") ;;
    *) echo "fuzz: unknown target $target (frames, json)" >&2; exit 2 ;;
  esac
  quietly swiftc "${flags[@]}" -Xcc -fmodule-map-file="$out/cmod/module.modulemap" "$src" "${libs[@]}" "$out/shim.o" -o "$out/fuzz-$target"
  corpus="$out/corpus-$target"
  mkdir -p "$corpus" "$out/crashes-$target"
  if [ "$target" = json ]; then
    cp config/*.json "$corpus/"
  else
    python3 - "$corpus" <<'PY'
import json, struct, sys
d = sys.argv[1]
def frame(t, payload): return bytes([t, 0]) + struct.pack(">H", len(payload)) + payload
hello = json.dumps({"connection_request": {"client_id": "x", "protocol_version": "1.0",
                    "capabilities": {"audio_formats": ["opus", "pcm"]}}, "t1": 1}).encode()
audio = struct.pack(">QQIBB", 7, 140000, 48000, 2, 1) + bytes(40)
open(f"{d}/hello", "wb").write(b"\x01" + frame(1, hello))
open(f"{d}/audio", "wb").write(b"\x05" + frame(6, audio) * 3 + frame(8, struct.pack(">QQQ", 1, 2, 3)))
open(f"{d}/mixed", "wb").write(b"\x00" + frame(99, b"zz") + frame(12, b"\x02") + frame(4, b'{"stream":{}}'))
PY
  fi
  log="$out/fuzz-$target.log"
  echo "fuzz: $target for ${seconds}s"
  set +e
  "$out/fuzz-$target" -max_total_time="$seconds" -max_len=70000 -artifact_prefix="$out/crashes-$target/" \
    -print_final_stats=1 "$corpus" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  crashes=$(find "$out/crashes-$target" -type f | wc -l)
  echo "fuzz: $target: $runs inputs tried, $crashes crashes (exit $rc; log $log)"
  [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || status=1
done
exit $status
