#!/usr/bin/env python3
"""Whether a linked msrecv has its text in the order of Sources/msrecv/link/text-order.txt:
most listed functions of our own modules (each in a section of its own, so a linker can move
it) lie after the one listed before them. Any architecture binutils' nm reads.

    text-order-took.py BINARY
"""
import pathlib, re, subprocess, sys

order = pathlib.Path(__file__).resolve().parent.parent / "Sources/msrecv/link/text-order.txt"
binary = sys.argv[1]
address = {}
for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = line.split()
    if len(fields) == 3:
        address.setdefault(fields[2], int(fields[0], 16))
ours = [name[len(".text."):] for name in order.read_text().split() if re.match(r"\.text\.\$s\d", name)]
placed = [address[name] for name in ours if name in address]
rising = sum(b > a for a, b in zip(placed, placed[1:]))
print(f"text order: {rising} of the {len(placed) - 1} listed functions of ours in {binary} follow the one listed before")
sys.exit(0 if len(placed) > 100 and rising >= (len(placed) - 1) * 95 // 100 else 1)
