"""sampling.allocator: once freed memory is kept, a big block that is freed and asked for
again is reused instead of mapped afresh (16,384 zero-filled 4 KiB pages per 64 MiB by
default, the cost every k-means sweep's temporaries paid). The setting is process-wide,
so each case runs in a fresh process, calling malloc and free directly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import ctypes, json, resource, sys
from sampling.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "kept" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
def use_once():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
use_once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    use_once()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def faults(mode: str) -> dict:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_blocks_are_reused_once_kept():
    default, kept = faults("default"), faults("kept")
    assert default["faults"] >= 10 * 16_000  # each 64 MiB block mapped afresh
    assert kept["kept"] is True
    assert kept["faults"] < 1_000  # the same block, reused


def test_keeping_freed_memory_is_done_once_per_process():
    from sampling.allocator import keep_freed_memory

    assert keep_freed_memory() is keep_freed_memory()
