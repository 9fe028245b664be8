#!/usr/bin/env bash
# The soak (issue 18 §7): the release mshost and three release msrecv on paced virtual cards
# (+150 / −150 / 0 ppm) for 30 minutes, the kitchen behind a relay with 10 ± 8 ms of in-order
# jitter that stalls 2 % of its chunks by 100 ms more (Tests/Fixtures/netpath/relay.py), each
# receiver with a preloaded per-thread allocation counter (Tests/Fixtures/malloc_counter.c).
# Prints RSS at 30 s and at the end for every daemon (flat within 1 MB), the audio threads' heap
# allocations in between (0), and the rooms' skew from 30 s on; every daemon must exit 0.
#   soak.sh [SECONDS (default 1800)]      (SOAK_LOG=FILE keeps the test's whole log there)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-1800}

bash scripts/install-deps.sh
swift build -c release --product msrecv >/dev/null
swift build -c release --product mshost >/dev/null
swift build --build-tests >/dev/null
log=${SOAK_LOG:-$(mktemp)}
status=0
MOOSYNC_SOAK_SECONDS=$seconds MOOSYNC_BIN_DIR="$PWD/.build/release" \
  swift test --skip-build --disable-swift-testing --filter 'SoakTests' >"$log" 2>&1 || status=$?
grep -E '^soak|error:' "$log" | grep -v 'click errors' || true
grep -E "^Test Suite 'Selected tests' (passed|failed)" "$log" | tail -1
echo "the whole log: $log"
exit $status
