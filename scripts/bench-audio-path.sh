#!/usr/bin/env bash
# package-benchmark run of the receiver's audio path (Benchmarks/): 10 000 Opus packets through
# parse → pool → jitter buffer → decode → gain → sink; prints mallocs and time per packet and
# fails if any packet allocated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../Benchmarks"
# package-benchmark reads its metrics with jemalloc's stats or its interposer; perf counters
# are optional (instructions print as 0 where the kernel denies them).
bash ../scripts/install-deps.sh
swift package --allow-writing-to-package-directory benchmark --no-progress --format markdown 2>&1 | tee /tmp/moosync-bench-audio-path.txt
swift package --allow-writing-to-package-directory benchmark thresholds check --no-progress 2>&1 | tail -5 || {
  echo "bench-audio-path: the audio path allocated (threshold: 0 mallocs per packet)" >&2
  exit 1
}
