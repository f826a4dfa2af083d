"""Machine description and sgemm speed for the sampling benchmarks (curate, match, dedup)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine  # noqa: E402  (bench/common.py: CPU model, cores, RAM)


def machine_summary(device: str = "cpu") -> str:
    import faiss
    import torch

    gpu = torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else "none"
    return (
        f"machine: {machine()}; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), faiss {faiss.__version__}, numpy {np.__version__}, gpu: {gpu}"
    )


def _timed_mm(a, b, repeats: int, cuda: bool) -> float:
    import torch

    torch.mm(a, b)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def sgemm_gflops(device: str = "cpu", m: int = 8192, k: int = 256, n: int = 2048, repeats: int = 5) -> dict:
    """Measured GEMM speed: torch.mm on `device` (on a GPU also TF32 and bf16, at a GPU-sized
    shape), and on the CPU numpy (OpenBLAS, which faiss also uses) and _cpu_torch_gemms."""
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        m, k, n, repeats = 16384, 768, 16384, 20
    flops = 2.0 * m * k * n
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    results = {"torch": flops / _timed_mm(a, b, repeats, cuda) / 1e9}
    if cuda:
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            results["torch tf32"] = flops / _timed_mm(a, b, repeats, cuda) / 1e9
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        results["torch bf16"] = flops / _timed_mm(a.bfloat16(), b.bfloat16(), repeats, cuda) / 1e9
    else:
        a_np, b_np = a.numpy(), b.numpy()
        a_np @ b_np
        start = time.perf_counter()
        for _ in range(repeats):
            a_np @ b_np
        results["numpy"] = flops * repeats / (time.perf_counter() - start) / 1e9
        results.update(_cpu_torch_gemms(a, b, flops, repeats))
    return results


def _cpu_torch_gemms(a, b, flops: float, repeats: int) -> dict:
    """torch's other CPU GEMMs: fp32 through oneDNN on packed keys (sampling.cpu_gemm),
    where this build has it, and bf16 (the k-means screen's; not an fp32 rate)."""
    import torch

    from sampling.cpu_gemm import BEST_ROWS, Fp32Keys, has_onednn_gemm

    def rate(run) -> float:
        run()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        return flops * repeats / (time.perf_counter() - start) / 1e9

    results = {}
    if has_onednn_gemm():
        keys = Fp32Keys(b.T.contiguous(), torch.zeros(b.shape[1]), "onednn")
        pieces = range(0, len(a), BEST_ROWS)  # cache-sized calls, as the sweeps make them
        results["torch oneDNN"] = rate(lambda: [keys.scores(a[start : start + BEST_ROWS]) for start in pieces])
    a16, b16 = a.bfloat16(), b.bfloat16()
    results["torch bf16"] = rate(lambda: a16 @ b16)
    return results


def synthetic_embeddings(
    rows: int, dim: int, concepts: int, seed: int = 0, device: str = "cpu", topics: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around `concepts` centres with Zipf-like (strongly imbalanced) concept sizes.

    With `topics`, concepts come in that many groups (concept c is in topic
    c * topics // concepts) whose centres scatter around a topic centre, so topic
    sizes are Zipf-imbalanced too, like subjects in web-scale captions.
    With a CUDA `device` the vectors are drawn there (numpy needs minutes for 6.7M x 768)
    and returned in host memory, as an embedding file would be.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, concepts + 1)
    concept = rng.choice(concepts, size=rows, p=weights / weights.sum())
    centres = rng.normal(size=(concepts, dim)).astype(np.float32)
    if topics:
        topic_centres = rng.normal(size=(topics, dim)).astype(np.float32)
        centres = topic_centres[np.arange(concepts) * topics // concepts] + 0.5 * centres
    x = np.empty((rows, dim), dtype=np.float32)
    if device.startswith("cuda"):
        import torch

        generator = torch.Generator(device=device).manual_seed(seed)
        centres_t = torch.from_numpy(centres).to(device)
        for start in range(0, rows, 1 << 18):
            part = torch.from_numpy(concept[start : start + (1 << 18)]).to(device)
            block = centres_t[part] + 0.6 * torch.randn(len(part), dim, device=device, generator=generator)
            x[start : start + len(part)] = torch.nn.functional.normalize(block, dim=1).cpu().numpy()
        return x, concept
    for start in range(0, rows, 1 << 16):
        part = concept[start : start + (1 << 16)]
        x[start : start + len(part)] = centres[part] + 0.6 * rng.normal(size=(len(part), dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, concept


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
