"""Keep freed memory for reuse in a process that runs the numeric core (glibc malloc).

glibc serves allocations above its mmap threshold (adjusted on the fly, at most 32 MiB by
default) with fresh mappings, and gives freed memory at the heap's top back to the OS
beyond its trim threshold. So every k-means sweep's big temporaries (score matrices,
gathered rows, per-row bounds) come back as new zero-filled pages: 0.5-0.8 million page
faults and 1.5-2.2 s of system time in one 200,000-row curate on the 2-core VM of
docs/benchmarks.md. Raising both thresholds (what MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ set at start-up) keeps that memory in the heap. The price: the
process keeps its peak heap after a run instead of shrinking, which suits worker
processes. Without glibc this does nothing.

Set as early as possible (the Celery worker at start-up, `python -m sampling`, and
kmeans/assign for other callers): set before the data is loaded, a curate run had 1,900
faults and took 0.84-0.86x the time; set on the first k-means call, 130,000 faults and
0.89-0.99x.
"""

from __future__ import annotations

import ctypes
import functools

# mallopt's parameters (malloc.h) and the values set: 1 GiB, within mallopt's int
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process; whether that was done."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting either stops glibc's own adjustment of both
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
