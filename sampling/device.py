"""Pick the torch device, and the CPU's fastest GEMM, the same way everywhere in sampling/."""

from __future__ import annotations

import functools
import platform

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """`None` or "auto" means CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_vendor() -> str:
    return _cpuinfo("vendor_id") or platform.processor()


@functools.cache
def cpu_gemm_backend() -> str:
    """ "torch" where torch's BLAS is Intel MKL on an Intel CPU, else "faiss".

    Measured (docs/benchmarks.md): on an AVX-512 Xeon, torch/MKL sgemm runs 3-4x the
    OpenBLAS that faiss-cpu bundles; on AMD EPYC faiss's fused search was as fast or
    faster. Decided from the hardware, not by timing, so results never depend on load.
    """
    return "torch" if _cpu_vendor() == "GenuineIntel" and torch.backends.mkl.is_available() else "faiss"


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX), where a bf16
    GEMM runs about twice the fp32 rate (docs/benchmarks.md); elsewhere it is emulated."""
    return bool(set((_cpuinfo("flags") or "").split()) & {"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_has_amx() -> bool:
    """Whether the CPU has AMX tiles for bf16 (Intel Xeon since Sapphire Rapids): oneDNN's
    bf16 GEMM runs 6-7x the fp32 one there, against about 2x with AVX-512 BF16 alone."""
    return "amx_bf16" in (_cpuinfo("flags") or "").split()


def _has_onednn_fp32_gemm() -> bool:
    try:
        keys = torch.ones(16, 16)
        packed = torch.ops.mkldnn._reorder_linear_weight(keys, 16)
        torch.ops.mkldnn._linear_pointwise(keys, packed, torch.zeros(16), "none", [], "")
        return True
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def cpu_fp32_gemm() -> str:
    """ "onednn" where torch's fp32 GEMM should run through oneDNN (AVX-512 on a CPU
    that is not Intel's: MKL runs its AVX2 code there, 2.4x slower on the AMD EPYC VM of
    docs/benchmarks.md), else "mkl" (addmm). Decided from the hardware (sampling.cpu_gemm)."""
    flags = set((_cpuinfo("flags") or "").split())
    fast = "avx512f" in flags and _cpu_vendor() != "GenuineIntel" and torch.backends.mkldnn.is_available()
    return "onednn" if fast and _has_onednn_fp32_gemm() else "mkl"
