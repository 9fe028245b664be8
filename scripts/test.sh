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

bash scripts/check-binaries.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
