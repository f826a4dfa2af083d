"""Pick the torch device, and read what the CPU can do (its GEMM backend, bf16, AMX), the
same way everywhere in sampling/ (sampling.cpu_gemm picks torch's fp32 GEMM from these)."""

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
    return "torch" if cpu_is_intel() and torch.backends.mkl.is_available() else "faiss"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo; empty where there is none)."""
    return frozenset((_cpuinfo("flags") or "").split())


@functools.cache
def cpu_is_intel() -> bool:
    return _cpu_vendor() == "GenuineIntel"


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX), where a bf16
    GEMM runs about twice the fp32 rate (docs/benchmarks.md); elsewhere it is emulated."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX tiles for bf16 (Intel Xeon since Sapphire Rapids): oneDNN's
    bf16 GEMM runs 6-7x the fp32 one there, against about 2x with AVX-512 BF16 alone."""
    return "amx_bf16" in cpu_flags()
