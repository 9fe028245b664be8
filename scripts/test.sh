#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what is missing, checks the release
# binaries (static Swift runtime, no Foundation in msrecv), builds the debug binaries the
# end-to-end tests drive, and runs every test. Long benchmarks, fuzzing and the trixie check have
# their own scripts (see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
# The discovery tests start their own dbus-daemon and avahi-daemon (loopback only, never the
# machine's network; Tests/EndToEndTests/MDNSDaemon.swift): install-deps installs both.

# The code's layout is swift-format's, with the repository's .swift-format (160 columns).
swift format lint --recursive --strict Sources Tests Benchmarks Package.swift
bash scripts/check-binaries.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?

# What skipped and why. Only the tests their own scripts run (the Snapcast comparisons:
# scripts/bench-sync.sh; the soak: scripts/soak.sh) may skip here: any other skip is a test that
# did not look, and fails the run.
expected='^(SnapcastSyncComparisonTests|SnapcastNetworkPathTests|SoakTests)\.'
skipped=$(sed -n 's/^.*: \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\) : Test skipped - \(.*\)$/\1: \2/p' "$log")
echo
echo "skipped: $(grep -c . <<<"$skipped" || true)"
[[ -z $skipped ]] || sed 's/^/  /' <<<"$skipped"
unexpected=$(grep -Ev "$expected" <<<"$skipped" || true)
if [[ -n $unexpected ]]; then
    echo "test.sh: these tests skipped, and only a script's own tests may:" >&2
    sed 's/^/  /' <<<"$unexpected" >&2
    status=1
fi
exit "$status"
