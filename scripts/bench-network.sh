#!/usr/bin/env bash
# Sync through real-network paths (issue 18), measured on the real mshost and msrecv with the
# real ALSA backend on the virtual card: three rooms (0 / +150 / −150 ppm), the kitchen and the
# lounge each behind a relay of their own (Tests/Fixtures/netpath/relay.py), the study direct:
#   re-segmenting  whatever the socket holds, up to 64 KB, forwarded at once, Nagle on
#   jitter         every chunk 10 ± 8 ms late, in order, both ways
# and beside them Snapcast (snapserver, three snapclients on the same cards) through the same
# relays. The skew is counted after 30 s. The suite runs the same tests for 60 s, without
# Snapcast and with wider limits; here the length is yours and the issue's targets apply:
#   bench-network.sh [SECONDS (default 120)]
# Prints one line per measurement, PASS/MISS per target, and exits non-zero if a test failed or
# a target was missed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-120}

bash scripts/install-deps.sh snapserver snapclient
swift build --build-tests >/dev/null
log=$(mktemp)
status=0
MOOSYNC_PATH_SECONDS=$seconds MOOSYNC_SNAPCAST=1 \
  swift test --skip-build --disable-swift-testing \
  --filter 'NetworkPathSyncTests|SnapcastNetworkPathTests' >"$log" 2>&1 || status=$?
grep -E '^(path|snapcast path)|error:' "$log" | grep -v 'click errors' || true
# The issue's targets: p99 skew against the direct room, and at most 10 % of clock replies refused.
python3 - "$log" <<'PY' || status=1
import re, sys
text = open(sys.argv[1]).read()
missed = False
for label, limit in (("path re-segmenting", 50), ("path jitter 10±8 ms", 200)):
    m = re.search(re.escape(label) + r" \d+ s, .*?p99 (\d+) µs.*?clock replies refused ([\d %/]+)", text)
    if not m:
        print(f"{label}: no figure"); missed = True; continue
    p99 = int(m.group(1)); refused = max(int(x) for x in re.findall(r"\d+", m.group(2)))
    missed = missed or p99 >= limit or refused > 10
    print(f"{label}: skew p99 {p99} µs (target < {limit}) {'PASS' if p99 < limit else 'MISS'}; "
          f"replies refused at most {refused} % (target <= 10) {'PASS' if refused <= 10 else 'MISS'}")
sys.exit(1 if missed else 0)
PY
grep -E "^Test Suite 'Selected tests' (passed|failed)" "$log" | tail -1
rm -f "$log"
exit $status
