"""GEMM scores x.c + b on the CPU: fp32 through the faster of torch's two GEMMs, and
oneDNN's GEMM on keys packed once (fp32 here, bf16 for kmeans_bounds' screen).

torch multiplies fp32 with Intel MKL (addmm), which on AMD CPUs runs its AVX2 code:
167 GFLOP/s on the 2-core AMD EPYC (Zen 5) VM of docs/benchmarks.md, where oneDNN's
AVX-512 GEMM on keys packed once (the layout torch's inductor uses) runs 400.
`cpu_fp32_gemm` picks one from the hardware, so results never depend on load.

Exactness across calls: k-means with bounds (kmeans_bounds) equals the plain sweep bit
for bit only if a score is computed the same way whatever the GEMM's shape. oneDNN's
entries are (any rows, any subset of keys, tested in test_cpu_gemm); MKL's are from
MIN_ROWS rows up (fewer rows take other kernels), so fewer are padded.
"""

from __future__ import annotations

import functools

import torch

from sampling.device import cpu_flags, cpu_is_intel

MIN_ROWS = 16
# oneDNN picks its kernel for this many rows when packing (any count gives the same entries)
PACK_ROWS = 2048
# `best` multiplies this many rows per call: a [512, 2000] score matrix stays in cache,
# 2x the rate of one call on 8192 rows here (oneDNN; MKL's rate does not change)
BEST_ROWS = 512


def onednn_pack(keys: torch.Tensor, rows: int):
    """`keys` [K, d] (fp32 or bf16) in oneDNN's blocked layout for GEMMs of about `rows`
    rows a call, or None where this torch build cannot (callers then use addmm)."""
    try:
        return torch.ops.mkldnn._reorder_linear_weight(keys.contiguous(), rows)
    except (AttributeError, RuntimeError):
        return None


def onednn_scores(rows: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """rows . keys + bias on `onednn_pack`ed keys, in the dtype of `rows`."""
    return torch.ops.mkldnn._linear_pointwise(rows, packed, bias, "none", [], "")


def has_onednn_gemm() -> bool:
    """Whether this torch build runs oneDNN's GEMM on packed keys (`onednn_pack`)."""
    keys = torch.ones(16, 16)
    packed = onednn_pack(keys, 16)
    if packed is None:
        return False
    try:
        onednn_scores(keys, packed, torch.zeros(16))
    except RuntimeError:
        return False
    return True


@functools.cache
def cpu_fp32_gemm() -> str:
    """ "onednn" where torch's fp32 GEMM should run through oneDNN (AVX-512 on a CPU
    that is not Intel's: MKL runs its AVX2 code there, 2.4x slower on the AMD EPYC VM of
    docs/benchmarks.md), else "mkl" (addmm). Decided from the hardware, not by timing."""
    fast = "avx512f" in cpu_flags() and not cpu_is_intel() and torch.backends.mkldnn.is_available()
    return "onednn" if fast and has_onednn_gemm() else "mkl"


class Fp32Keys:
    """Keys [K, d] and a per-key bias [K], prepared once for many `scores` calls."""

    def __init__(self, keys: torch.Tensor, bias: torch.Tensor, gemm: str | None = None):
        self.keys, self.bias = keys.float().contiguous(), bias.float().contiguous()
        self.packed = onednn_pack(self.keys, PACK_ROWS) if (gemm or cpu_fp32_gemm()) == "onednn" else None

    def scores(self, rows: torch.Tensor) -> torch.Tensor:
        """[rows, K] fp32: rows . keys + bias."""
        if self.packed is not None:
            return onednn_scores(rows, self.packed, self.bias)
        if len(rows) >= MIN_ROWS:
            return torch.addmm(self.bias, rows, self.keys.T)
        padded = torch.cat([rows, rows[:1].expand(MIN_ROWS - len(rows), -1)])
        return torch.addmm(self.bias, padded, self.keys.T)[: len(rows)]

    def best(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row, the best score and its key (the first, if tied), in cache-sized pieces."""
        values, keys = torch.empty(len(rows)), torch.empty(len(rows), dtype=torch.int64)
        for begin in range(0, len(rows), BEST_ROWS):
            part = slice(begin, begin + BEST_ROWS)
            values[part], keys[part] = self.scores(rows[part]).max(dim=1)
        return values, keys
