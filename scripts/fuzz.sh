#!/usr/bin/env bash
# libFuzzer (swiftc -sanitize=fuzzer,address) on the parsers a peer or a config file reaches:
#   frames  the frame reader + the AUDIO header and every message decoder, and the mDNS TXT
#           records (ProtocolMessages, Transport)
#   json    the config loader (JSON reader + validation) and the WAV parser (Core, Config, Audio)
#   session the receiver's whole session (handshake with or without a password, stream, clock
#           sync) against a host played from the input, on a stepped clock and a memory sink
#   host    one receiver's connection on the host (Host.ClientConnection): HELLO, the password
#           proof against a fixed verifier, CONTROL/CHAT against the permissions, deadlines
# Each runs FUZZ_SECONDS (default 60) from a seed corpus; prints inputs tried and crashes found.
#   bash scripts/fuzz.sh [frames|json|session|host ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
out="$root/.build-fuzz"
targets=("${@:-frames json session host}")
read -r -a targets <<< "${targets[*]}"
mkdir -p "$out/cmod"

flags=(-parse-as-library -sanitize=fuzzer,address -O -g -I "$out")
# CMoosyncLinux (thread names, signalfd) as SwiftPM would build it.
cat > "$out/cmod/module.modulemap" <<MAP
module CMoosyncLinux { header "$root/Sources/CMoosyncLinux/include/CMoosyncLinux.h" export * }
module CFractionalDelay { header "$root/Sources/CFractionalDelay/include/CFractionalDelay.h" export * }
module CAvahi { header "$root/Sources/CAvahi/include/CAvahi.h" export * }
MAP
build_log="$out/build.log"
: > "$build_log"
quietly() { "$@" >> "$build_log" 2>&1 || { cat "$build_log" >&2; exit 1; }; }  # the linker warns about ASan locals
quietly cc -c -D_GNU_SOURCE -O1 -fsanitize=address -I Sources/CMoosyncLinux/include Sources/CMoosyncLinux/shim.c -o "$out/shim.o"
quietly cc -c -O2 -fsanitize=address -I Sources/CFractionalDelay/include Sources/CFractionalDelay/fractional_delay.c -o "$out/fractional_delay.o"
quietly cc -c -O1 -fsanitize=address -I Sources/CAvahi/include Sources/CAvahi/avahi.c -o "$out/avahi.o"
# Debian's libmbedcrypto is not built with ASan: this puts ASan's check in front of the calls
# that read or write a buffer the shim passes it (Tests/Fuzz/mbedtls_bounds.c).
quietly cc -c -O1 -fsanitize=address Tests/Fuzz/mbedtls_bounds.c -o "$out/mbedtls_bounds.o"
# The C libraries' module maps, as SwiftPM passes them.
cmaps=(-Xcc -fmodule-map-file="$out/cmod/module.modulemap" -Xcc -fmodule-map-file="$root/Sources/COpus/module.modulemap" -Xcc -fmodule-map-file="$root/Sources/CFLAC/module.modulemap"
       -Xcc -fmodule-map-file="$root/Sources/CAlsa/module.modulemap" -Xcc -fmodule-map-file="$root/Sources/CMbedTLS/module.modulemap"
       -Xcc -fmodule-map-file="$root/Sources/CSamplerate/module.modulemap" -Xcc -fmodule-map-file="$root/Sources/CGpiod/module.modulemap")
module() {  # name, sources...
  local name=$1; shift
  # A static archive is added to, not replaced: objects of files since renamed or merged would
  # stay in it and clash at the link.
  rm -f "$out/lib$name.a"
  quietly swiftc "${flags[@]}" "${cmaps[@]}" -module-name "$name" \
    -emit-module -emit-module-path "$out/$name.swiftmodule" -emit-library -static -o "$out/lib$name.a" "$@"
}
module Core Sources/Core/*.swift
module ProtocolMessages Sources/ProtocolMessages/*.swift
module Platform Sources/Platform/*.swift
module Transport Sources/Transport/*.swift
module Audio Sources/Audio/*.swift
module Config Sources/Config/*.swift
if [[ " ${targets[*]} " == *" session "* || " ${targets[*]} " == *" host "* ]]; then
  module Codec Sources/Codec/*.swift
  module Secure Sources/Secure/*.swift
  module Discovery Sources/Discovery/*.swift
fi
if [[ " ${targets[*]} " == *" session "* ]]; then
  module Resample Sources/Resample/*.swift
  module Board Sources/Board/*.swift
  module Receiver -enable-testing Sources/Receiver/*.swift
  module AudioPathHarness Sources/AudioPathHarness/*.swift
fi
if [[ " ${targets[*]} " == *" host "* ]]; then
  module SampleRateConversion Sources/SampleRateConversion/*.swift
  module Host -enable-testing Sources/Host/*.swift
fi

status=0
for target in "${targets[@]}"; do
  case "$target" in
    frames) src=(Tests/Fuzz/FuzzFrames.swift Tests/Fuzz/FuzzChannel.swift); libs=("$out/libTransport.a" "$out/libPlatform.a" "$out/libProtocolMessages.a" "$out/libCore.a") ;;
    json) src=(Tests/Fuzz/FuzzJSON.swift); libs=("$out/libConfig.a" "$out/libAudio.a" "$out/libPlatform.a" "$out/libProtocolMessages.a" "$out/libCore.a" -lasound) ;;
    session)
      src=(Tests/Fuzz/FuzzSession.swift Tests/Fuzz/FuzzChannel.swift)
      libs=("$out/libAudioPathHarness.a" "$out/libReceiver.a" "$out/libBoard.a" "$out/libDiscovery.a" "$out/avahi.o" -ldl "$out/libSecure.a" "$out/libResample.a" "$out/libCodec.a" "$out/libConfig.a" "$out/libAudio.a" "$out/libTransport.a"
            "$out/libPlatform.a" "$out/libProtocolMessages.a" "$out/libCore.a" "$out/fractional_delay.o" "$out/mbedtls_bounds.o" -lopus -lFLAC -lasound -lgpiod -lmbedtls -lmbedx509 -lmbedcrypto) ;;
    host)
      src=(Tests/Fuzz/FuzzHost.swift Tests/Fuzz/FuzzChannel.swift)
      libs=("$out/libHost.a" "$out/libDiscovery.a" "$out/avahi.o" -ldl "$out/libSecure.a" "$out/libSampleRateConversion.a" "$out/libCodec.a" "$out/libConfig.a" "$out/libAudio.a"
            "$out/libTransport.a" "$out/libPlatform.a" "$out/libProtocolMessages.a" "$out/libCore.a" "$out/mbedtls_bounds.o" -lopus -lFLAC -lasound -lsamplerate -lmbedtls -lmbedx509 -lmbedcrypto) ;;
    *) echo "fuzz: unknown target $target (frames, json, session, host)" >&2; exit 2 ;;
  esac
  quietly swiftc "${flags[@]}" "${cmaps[@]}" "${src[@]}" "${libs[@]}" "$out/shim.o" -o "$out/fuzz-$target"
  corpus="$out/corpus-$target"
  mkdir -p "$corpus" "$out/crashes-$target"
  if [ "$target" = json ]; then
    cp config/*.json "$corpus/"
    printf '{"command":"kick","id":3,"for_s":600}' > "$corpus/request"
    printf '{"ok":true,"clients":[{"id":1,"client_id":"c","name":"n","address":"a","codec":"opus","bitrate":1,"streaming":true,"connected_s":2,"volume":40}]}' > "$corpus/reply"
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
open(f"{d}/advertisement", "wb").write(b"\x00" + frame(13, json.dumps({"host_info": {"device_id": "d", "avatar": "aGk="},
     "network": {"port": 8080}, "capabilities": {"max_clients": 4}}).encode())
     + frame(13, b"version=1.0\x00device_id=d\x00port=8080\x00sample_rate=48000\x00chat=true"))
# The session target: cut-up, pace and tick bytes, then a host's stream answering HELLO at t1 =
# 1000000 (FuzzSession's helloTime).
def welcome(codec, frames):
    return frame(4, json.dumps({"session_id": "s", "stream": {"codec": codec, "sample_rate": 48000, "channels": 2,
                 "frame_samples": frames}, "stream_start": 1000000, "t1": 1000000, "t2": 1000100, "t3": 1000200}).encode())
def pcm(seq, ts=None): return frame(6, struct.pack(">QQIBB", seq, seq * 20000 if ts is None else ts, 48000, 2, 0) + bytes(960 * 4))
# A receiver with a password (the first byte's top bit): a CHALLENGE, a host's half of the proof, a WELCOME.
open(f"{d}/session-password", "wb").write(b"\xc0\x80\x10" + frame(2, json.dumps({"method": "password", "salt": "ab" * 16, "iterations": 1000}).encode())
     + frame(3, b"\x02\x04" + bytes(96)) + welcome("pcm", 960) + pcm(0))
# A share on the curve (P-256's generator): the proof is worked out and its confirmation checked,
# which no input can make right (the paths after a wrong one are what this reaches).
generator = bytes.fromhex("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                          "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
open(f"{d}/session-password-on-curve", "wb").write(b"\xc0\x80\x10" + frame(2, json.dumps({"method": "password", "salt": "ab" * 16, "iterations": 1000}).encode())
     + frame(3, b"\x02" + generator + bytes(32)) + welcome("pcm", 960) + pcm(0))
open(f"{d}/session-pcm", "wb").write(b"\x40\x80\x10" + welcome("pcm", 960) + b"".join(pcm(s) for s in range(12))
     + frame(8, struct.pack(">QQQ", 1000000, 1000100, 1000200)) + frame(12, b"\x02"))
open(f"{d}/session-opus", "wb").write(b"\x07\x20\x40" + welcome("opus", 960)
     + b"".join(frame(6, struct.pack(">QQIBB", s, s * 20000, 48000, 2, 1) + b"\xfc\xff\xfe") for s in range(20)))
# FLAC: verbatim frames (a 16-bit stereo frame as libFLAC writes one for noise), CRC-8 and CRC-16 right.
def crc(data, poly, width):
    top, mask, c = 1 << (width - 1), (1 << width) - 1, 0
    for byte in data:
        c ^= byte << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
    return c
def flac_frame(number, samples):
    header = bytes([0xFF, 0xF8, 0x7A, 0x18, number & 0x7F, 0x03, 0xBF])
    header += bytes([crc(header, 0x07, 8)])
    body = b"".join(b"\x02" + b"".join(struct.pack(">h", (i * 37 + c * 11 + number) % 2000 - 1000) for i in range(samples)) for c in range(2))
    whole = header + body
    return whole + struct.pack(">H", crc(whole, 0x8005, 16))
open(f"{d}/session-flac", "wb").write(b"\x40\x80\x10" + welcome("flac", 960)
     + b"".join(frame(6, struct.pack(">QQIBB", s, s * 20000, 48000, 2, 2) + flac_frame(s, 960)) for s in range(12)))
# The host target: admission and permission bits, cut-up, then a receiver's stream.
control = lambda action, **v: frame(10, json.dumps({"action": action, **v}).encode())
open(f"{d}/host-open", "wb").write(b"\x07\x10" + frame(1, hello) + frame(7, struct.pack(">Q", 5)) + control("play")
     + control("queue_add", value="s-1") + control("volume", value=40) + frame(11, b'{"text": "hi"}') + frame(9, b'{"buffer_health": 0.5}')
     + frame(12, b"\x02"))
open(f"{d}/host-password", "wb").write(b"\x08\x30" + frame(1, hello) + frame(3, b"\x01\x04" + bytes(64)) + frame(3, b"\x03" + bytes(32)))
open(f"{d}/host-password-on-curve", "wb").write(b"\x08\x30" + frame(1, hello) + frame(3, b"\x01" + generator) + frame(3, b"\x03" + bytes(32)))
# A 1-byte share: the AUTH decoder refuses it; were that check gone, mbedtls_bounds.c catches the read.
open(f"{d}/host-short-share", "wb").write(b"\x08\x30" + frame(1, hello) + frame(3, b"\x01\x04"))
open(f"{d}/host-closed", "wb").write(b"\x00\x08" + frame(10, b'{"action": "play"}') + frame(1, hello) + control("refused", value="x", reason="y"))
meta = json.dumps({"song_id": "s", "position": 1.5, "volume": 0.5}).encode()
def pcm_meta(seq): return bytes([6, 1]) + struct.pack(">H", 22 + 2 + len(meta) + 960 * 4) + struct.pack(">QQIBB", seq, seq * 20000, 48000, 2, 0) + struct.pack(">H", len(meta)) + meta + bytes(960 * 4)
open(f"{d}/session-metadata", "wb").write(b"\x40\x80\x10" + welcome("pcm", 960) + b"".join(pcm_meta(s) if s % 3 == 0 else pcm(s) for s in range(12)))
open(f"{d}/session-jump", "wb").write(b"\x40\x80\x10" + welcome("pcm", 960) + pcm(0) + pcm(1 << 40, 20000) + pcm((1 << 64) - 1, 40000)
     + pcm(5, (1 << 64) - 5) + frame(12, b"\x01"))
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
