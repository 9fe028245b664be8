#!/usr/bin/env bash
# Builds the release binaries and checks what the speaker image relies on: both daemons carry
# the Swift runtime inside them (no libswift*.so needed), msrecv has no Foundation in it, neither
# loads Avahi (and with it libdbus, libsystemd, libgcrypt) before discovery is used, and both
# answer --version with the libraries they were built against.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

swift build -c release --product msrecv
swift build -c release --product mshost
failures=0
for binary in msrecv mshost; do
  path=.build/release/$binary
  if ldd "$path" | grep -q 'libswift'; then
    echo "check-binaries: FAIL $binary links the Swift runtime dynamically:"; ldd "$path" | grep libswift
    failures=$((failures + 1))
  fi
  if ldd "$path" | grep -qE 'libavahi|libdbus'; then
    echo "check-binaries: FAIL $binary loads Avahi at start:"; ldd "$path" | grep -E 'libavahi|libdbus'
    failures=$((failures + 1))
  fi
  "$path" --version
done
if nm "$(readlink -f .build/release/msrecv)" | grep -q 'Foundation'; then
  echo "check-binaries: FAIL msrecv contains Foundation symbols"
  failures=$((failures + 1))
fi
# BFD's copy of the text order says what the list says (profile-text-order.sh writes both).
if ! bash scripts/text-order-ld.sh | diff -q - Sources/msrecv/link/text-order.ld > /dev/null; then
  echo "check-binaries: FAIL Sources/msrecv/link/text-order.ld is not text-order.txt's (rerun scripts/profile-text-order.sh)"
  failures=$((failures + 1))
fi
# The order took, whichever linker this machine's swiftc used (Package.swift): the listed
# functions of our own modules (each in a section of its own) lie in the binary in the
# list's order (gold: 511 of 511 after the one listed before; lld: 488 of 488; linked
# unordered, mshost: 170 of 329).
if ! python3 scripts/text-order-took.py "$(readlink -f .build/release/msrecv)"; then
  echo "check-binaries: FAIL msrecv's text is not in the order of Sources/msrecv/link/text-order.txt"
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] && echo "check-binaries: OK" || echo "check-binaries: $failures problem(s)"
[ "$failures" -eq 0 ]
