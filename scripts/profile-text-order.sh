#!/usr/bin/env bash
# Regenerates Sources/msrecv/link/text-order.txt (and BFD's form of it, text-order.ld): the
# functions msrecv runs, which the release link (Package.swift) places side by side. A speaker runs a few
# hundred KB of its 5 MB binary; scattered, every first call maps the code around it (the
# kernel's fault-around: 16 KB once msrecv has split its mappings, 64 KB before), so much of
# the binary would end up resident. Together they fill a few pages. The list comes from callgrind (which functions ran, by their mangled names, as the
# sections are named) over msrecv playing Opus and PCM into the paced virtual card, drift
# compensation included; what a playing stream runs comes first. Rerun after larger changes or a
# toolchain upgrade; a stale list costs memory, never correctness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}

bash scripts/install-deps.sh valgrind
swift build -c release --product mshost >/dev/null
swift build -c release --product msrecv >/dev/null

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cc -shared -fPIC -DPIC -O2 -o "$work/libasound_module_pcm_vcard.so" Tests/Fixtures/vcard/pcm_vcard.c -lasound -lm
cat > "$work/asound.conf" <<EOF
pcm_type.vcard { lib "$work/libasound_module_pcm_vcard.so" }
pcm.card { type vcard ppm 200 delay_us 1000 burst 64 }
EOF
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$work/asound.conf"
# valgrind cannot read the DWARF of a Swift binary; it only needs the symbol table.
strip -g -o "$work/msrecv" .build/release/msrecv

port=18790
for codec in opus pcm; do
  port=$((port + 1))
  cat > "$work/host.json" <<EOF
{"sharing": {"device_name": "profile", "port": $port, "source": "tone", "state_dir": "$work/state", "audio_quality": {"codec": "$codec"}}}
EOF
  cat > "$work/recv.json" <<EOF
{"receiving": {"host": "127.0.0.1:$port", "buffer_size": "200ms", "state_dir": "$work/state", "audio_output": {"device_id": "card"}}}
EOF
  .build/release/mshost --config "$work/host.json" 2>/dev/null &
  host=$!
  sleep 0.5
  timeout -s TERM "$seconds" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$codec.out" \
    "$work/msrecv" --config "$work/recv.json" >/dev/null 2>&1 || true
  kill "$host" 2>/dev/null || true
  wait "$host" 2>/dev/null || true
done

python3 - "$work/msrecv" "$work"/opus.out "$work"/pcm.out > Sources/msrecv/link/text-order.txt <<'EOF'
import re, sys
binary, outputs = sys.argv[1], sys.argv[2:]
# What the stream runs (the audio thread and the control loop while a session plays) goes
# first: msrecv unmaps its code before each session, so only these pages come back.
roots = re.compile(r"runAudioLoop|13StreamSessionC|7ReactorV4wait")
ran, calls = set(), {}
for path in outputs:
    objects, functions, current, caller = {}, {}, None, None
    for line in open(path):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, index, name = m.groups()
        table = objects if kind.endswith("ob") else functions
        if name:
            table[index] = name
        if kind == "ob":
            current = objects[index]
        elif kind == "fn":
            caller = functions[index].split("'")[0]
            if current == binary:
                ran.add(caller)
        elif kind == "cfn":
            calls.setdefault(caller, set()).add(functions[index].split("'")[0])
streaming, todo = set(), [f for f in ran if roots.search(f)]
while todo:
    f = todo.pop()
    if f not in streaming:
        streaming.add(f)
        todo.extend(calls.get(f, ()))
# Only names a function's section can have (valgrind adds its own, such as "(below main)").
for name in sorted(ran & streaming) + sorted(ran - streaming):
    if re.fullmatch(r"[A-Za-z0-9_$.]+", name):
        print(".text." + name)
EOF
# BFD's form of the same list (Package.swift): a fragment of the default script's SECTIONS.
bash scripts/text-order-ld.sh > Sources/msrecv/link/text-order.ld
# SwiftPM does not see the list as an input of the link: make the next build link msrecv again.
rm -f .build/release/msrecv .build/debug/msrecv
echo "profile-text-order: $(grep -c '^\.text\.' Sources/msrecv/link/text-order.txt) functions in Sources/msrecv/link/text-order.txt"
