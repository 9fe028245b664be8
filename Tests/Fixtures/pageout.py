#!/usr/bin/env python3
"""Memory pressure on one process, for tests: asks the kernel to reclaim every page of PID it
can (process_madvise MADV_PAGEOUT over all its mappings), as it would when the machine runs
short. File-backed pages (code) are dropped and read back on next use; locked pages stay.
Prints the number of mappings advised. Needs Linux 5.10+ and the right to ptrace PID (root)."""
import ctypes, os, sys

SYS_pidfd_open, SYS_process_madvise, MADV_PAGEOUT = 434, 440, 21

class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
pid = int(sys.argv[1])
pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
if pidfd < 0:
    sys.exit(f"pidfd_open: {os.strerror(ctypes.get_errno())}")
ranges = []
for line in open(f"/proc/{pid}/maps"):
    span, perms = line.split()[:2]
    if perms[0] != "r" or "[vvar" in line or "[vsyscall]" in line:
        continue
    start, end = (int(x, 16) for x in span.split("-"))
    ranges.append((start, end - start))
advised = 0
for start, length in ranges:
    iov = IOVec(start, length)
    if libc.syscall(SYS_process_madvise, pidfd, ctypes.byref(iov), 1, MADV_PAGEOUT, 0) >= 0:
        advised += 1
print(advised)
