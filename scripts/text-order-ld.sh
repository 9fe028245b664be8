#!/usr/bin/env bash
# Prints BFD's form of msrecv's text order (Sources/msrecv/link/text-order.txt, gold's form): a
# fragment of the default linker script's SECTIONS that puts the listed sections first in .text.
# profile-text-order.sh writes it to text-order.ld; check-binaries.sh checks the two agree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo ".text : {"
sed 's/.*/  *(&)/' Sources/msrecv/link/text-order.txt
echo "}"
