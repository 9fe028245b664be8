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
if ! diff -q <({ echo ".text : {"; sed 's/.*/  *(&)/' Sources/msrecv/link/text-order.txt; echo "}"; }) Sources/msrecv/link/text-order.ld >/dev/null; then
  echo "check-binaries: FAIL Sources/msrecv/link/text-order.ld is not text-order.txt's (rerun scripts/profile-text-order.sh)"
  failures=$((failures + 1))
fi
# The order took, whichever linker this machine's swiftc used (Package.swift): the listed
# functions of our own modules (each in a section of its own) lie together, within 512 KB
# (gold puts them further into .text, lld and BFD at its start), not over megabytes. Linked
# unordered, only 209 of mshost's 330 did.
if ! python3 - "$(readlink -f .build/release/msrecv)" Sources/msrecv/link/text-order.txt <<'ORDER'
import bisect, re, subprocess, sys
binary, order = sys.argv[1], sys.argv[2]
address = {}
for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = line.split()
    if len(fields) == 3:
        address.setdefault(fields[2], int(fields[0], 16))
ours = [name[len(".text."):] for name in open(order).read().split() if re.match(r"\.text\.\$s\d", name)]
placed = sorted(address[name] for name in ours if name in address)
together = max((bisect.bisect_left(placed, a + 512 * 1024) - i for i, a in enumerate(placed)), default=0)
print(f"check-binaries: {together} of the {len(placed)} listed functions of ours lie within 512 KB of msrecv's text")
sys.exit(0 if len(placed) >= 100 and together >= len(placed) * 95 // 100 else 1)
ORDER
then
  echo "check-binaries: FAIL msrecv's text is not in the order of Sources/msrecv/link/text-order.txt"
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] && echo "check-binaries: OK" || echo "check-binaries: $failures problem(s)"
[ "$failures" -eq 0 ]
