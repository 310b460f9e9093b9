"""Process-wide settings that keep 30 Hz multi-megabyte sensor traffic from starving the inference thread.

- `keep_large_buffers`: the node's multi-megabyte message buffers stay in the heap instead of fresh pages
  being mapped for each one (below).
- `set_gil_switch_interval`: how long a thread that wants the interpreter lock waits for the thread holding
  it to let go (Python's default 5 ms). The inference thread needs the lock a handful of times per window
  (batch, model call, softmax, publish) while the executor thread runs the subscription callbacks; each hand-
  off could cost up to 5 ms; 1 ms roughly halved the live node's inference p95 (docs/RELIABILITY.md, issue 15).

Message buffers:

Every Azure Kinect message the node takes (points2 11.8 MB, colour 3.7 MB, depth 1.8 MB, 30 Hz each) passes
through a few buffers of its size: the DDS reader's sample, the rmw's serialised or deserialised copy and the
Python object. glibc serves allocations above its mmap threshold (128 KiB, adapting up to 32 MiB) with fresh
mmap'd pages and returns them with munmap on free, and memory freed at the top of the heap beyond the trim
threshold goes back to the kernel too. Either way the next message of that size faults every 4 KiB page in
again and the kernel zeroes it: in a perf profile of the live node (issue 15) page faults, page zeroing and
unmapping together took about as many samples as the copies themselves (memmove, 18 %).

`keep_large_buffers` raises both thresholds with mallopt(3), so those buffers are reused from the heap. The
cost is memory kept: the heap holds on to its peak (a few times the largest message), no longer returned
after a burst. It changes the whole process (glibc only; elsewhere it does nothing and says so).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): covers an 11.8 MB points2."""
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Free memory at the top of the heap kept before returning it to the kernel."""


def keep_large_buffers() -> str:
    """Apply the thresholds; returns what was done (for the start-up log)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return f"malloc left as is (no mallopt in {name or 'the C library'})"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        return "malloc left as is (mallopt refused the thresholds)"
    return (f"buffers up to {MMAP_THRESHOLD_BYTES >> 20} MiB reused from the heap (mmap threshold), "
            f"{TRIM_THRESHOLD_BYTES >> 20} MiB kept before trimming")


def set_gil_switch_interval(seconds: float) -> str:
    """sys.setswitchinterval(seconds) when seconds > 0 (0 leaves Python's default); returns what was done."""
    if seconds > 0:
        sys.setswitchinterval(seconds)
    return f"interpreter switch interval {1e3 * sys.getswitchinterval():.1f} ms"
