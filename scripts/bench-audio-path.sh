#!/usr/bin/env bash
# package-benchmark run of the receiver's audio path (Benchmarks/): 10 000 Opus packets, one per
# iteration, through parse → pool → jitter buffer → decode → gain → sink, beside an empty
# iteration that shows what the framework itself allocates. Prints mallocs and time per packet;
# fails if the path allocates.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../Benchmarks"
bash ../scripts/install-deps.sh
report=$(mktemp)
swift package --allow-writing-to-package-directory benchmark --no-progress --format markdown > "$report" 2>&1 || {
  cat "$report" >&2
  exit 1
}
sed -n '/^## AudioPath/,$p' "$report"
# Column 4 of a metric row is p50; the first table is the baseline, the second the audio path.
read -r base path < <(awk -F'|' '/Malloc \(total\)/ { gsub(/ /, "", $5); printf "%s ", $5 } END { print "" }' "$report")
time_row=$(awk -F'|' '/Time \(wall clock\)/ { row = $0 } END { print row }' "$report")
unit=$(sed -n 's/.*Time (wall clock) (\(.*\)).*/\1/p' <<< "$time_row")
median=$(awk -F'|' '{ gsub(/ /, "", $5); print $5 }' <<< "$time_row")
rm -f "$report"
extra=$((path - base))
echo "bench-audio-path: mallocs per packet $extra (median; the framework's own $base per iteration subtracted), median time per 20 ms packet $median $unit"
[ "$extra" -eq 0 ]
