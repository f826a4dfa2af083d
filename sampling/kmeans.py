"""Lloyd k-means at GEMM speed over chunked (memory-mapped) rows, CPU or GPU.

Why not faiss.Kmeans alone: curation needs warm starts, per-point distances,
GPU/CPU parity and memory-mapped input. Assignment uses torch GEMM, or faiss's
fused search on CPUs where its bundled BLAS is the faster one (see
device.cpu_gemm_backend); centroid sums are one vectorised scatter per chunk.
The default initialisation is k-means++ drawn in doubling batches on a
subsample: log2(k) GEMM rounds instead of k sequential passes, with the same D^2
weighting (as good as classic k-means++ in our tests); small problems get
sequential greedy k-means++.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sampling.allocator import keep_freed_memory
from sampling.cpu_gemm import Fp32Keys, cpu_fp32_gemm
from sampling.device import cpu_gemm_backend, cpu_has_fast_bf16, resolve_device
from sampling.gemm_topk import KeySet
from sampling import kmeans_bounds
from sampling.kmeans_bounds import YinyangState
from sampling.rows import RowChunks, as_float32_rows, to_tensor

INIT_METHODS = ("auto", "kmeans++batched", "kmeans++greedy", "kmeans++", "random")
# "auto" runs sequential greedy k-means++ below this many distance evaluations,
# batched k-means++ on a subsample above
EXACT_INIT_MAX_WORK = 1 << 27
INIT_SAMPLE_PER_CLUSTER = 20
SPLIT_EPS = 1.0 / 1024
# Yinyang bounds (kmeans_bounds) run where they pay: fp32 on the CPU with torch's GEMM,
# at least this many centroids, and their arrays (see _use_bounds) of at most BOUNDS_MAX_BYTES.
BOUNDS_MIN_CLUSTERS = 400
BOUNDS_MAX_BYTES = 1 << 30
Progress = Callable[[int], None]


@dataclass
class KMeansResult:
    centroids: np.ndarray  # [k, d] float32
    labels: np.ndarray  # [N] int64
    sq_distances: np.ndarray  # [N] float32, squared L2 to the assigned centroid
    inertia: float  # sum of sq_distances
    bounds: YinyangState | None = None  # after the last sweep, to continue from (see kmeans_bounds)


def default_precision(device: torch.device) -> str:
    """TF32 on the GPU (fp32 re-check keeps results exact), fp32 on the CPU."""
    return "tf32" if device.type == "cuda" else "fp32"


def _chunk_rows(n_centroids: int, device: torch.device, backend: str) -> int:
    if backend == "faiss":
        return 1 << 16
    budget = (1 << 29) if device.type == "cuda" else (1 << 23)  # score-matrix elements
    return int(np.clip(budget // max(n_centroids, 1), 256, 1 << 16))


class _Assigner:
    """Nearest centroid per row: argmax of x.c - |c|^2/2, never forming distances.
    In TF32/bf16 the best few centroids are re-scored in fp32, which settles near
    ties; proving the winner exactly where a crowd of centroids sits within rounding
    of each other would take an fp32 GEMM, so such rows keep the shortlist's best."""

    def __init__(self, centroids: torch.Tensor, precision: str, backend: str):
        self.backend = backend
        self.centroids = centroids
        if backend == "faiss":
            self.centroids_np = centroids.cpu().numpy()
        else:
            self.best = _best_keys(centroids, -0.5 * (centroids * centroids).sum(dim=1), precision)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.backend == "faiss":
            import faiss

            distances, labels = faiss.knn(x.numpy(), self.centroids_np, 1)
            return torch.from_numpy(labels[:, 0]), torch.from_numpy(distances[:, 0])
        best, labels = self.best(x)
        return labels, ((x * x).sum(dim=1) - 2 * best).clamp_(min=0)


def _best_keys(keys: torch.Tensor, bias: torch.Tensor, precision: str) -> Callable:
    """rows -> (best score x.c + b per row, its key): in fp32 on the CPU the GEMM bounded
    sweeps use (sampling.cpu_gemm), elsewhere KeySet's (in TF32/bf16 near-equidistant
    keys may settle either way: see KeySet.topk, fine for k-means)."""
    if keys.device.type == "cpu" and precision == "fp32":
        return Fp32Keys(keys, bias).best
    key_set = KeySet(keys, bias, precision)

    def best(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = key_set.topk(rows, 1, exact=False)
        return values[:, 0], indices[:, 0]

    return best


def _cpu_fp32_backend() -> str:
    """The plain CPU fp32 sweep's GEMM: torch's where oneDNN runs it (sampling.cpu_gemm),
    else whichever BLAS device.cpu_gemm_backend finds faster."""
    return "torch" if cpu_fp32_gemm() == "onednn" else cpu_gemm_backend()


def _resolve_backend(backend: str, device: torch.device, precision: str) -> str:
    if backend == "auto":
        return _cpu_fp32_backend() if device.type == "cpu" and precision == "fp32" else "torch"
    if backend == "faiss" and (device.type != "cpu" or precision != "fp32"):
        raise ValueError("the faiss backend runs fp32 on the CPU only")
    if backend not in ("faiss", "torch"):
        raise ValueError(f"backend must be auto, faiss or torch, got {backend!r}")
    return backend


def _split_empty_clusters(sums, counts, rng: np.random.Generator) -> None:
    """Re-seed empty clusters by splitting big ones (in place, deterministic)."""
    counts_np = counts.cpu().numpy()
    empty = np.flatnonzero(counts_np == 0)
    for cluster in empty:
        weights = np.maximum(counts_np - 1, 0).astype(np.float64)
        if weights.sum() == 0:
            break
        donor = rng.choice(len(counts_np), p=weights / weights.sum())
        centroid = sums[donor] / counts_np[donor]
        signs = torch.ones_like(centroid)
        signs[1::2] = -1
        half = counts_np[donor] / 2
        sums[cluster] = centroid * (1 + SPLIT_EPS * signs) * half
        sums[donor] = centroid * (1 - SPLIT_EPS * signs) * half
        counts_np[cluster] = counts_np[donor] = half
    counts.copy_(torch.from_numpy(counts_np).to(counts.device))


def _accumulate(sums: torch.Tensor, counts: torch.Tensor, x: torch.Tensor, labels: torch.Tensor) -> None:
    labels = labels.to(x.device)
    chunk_sums = torch.zeros(sums.shape, dtype=torch.float32, device=x.device)
    if x.device.type == "cuda":  # sort-based accumulate: deterministic, unlike atomics
        chunk_sums.index_put_((labels,), x, accumulate=True)
    else:
        chunk_sums.index_add_(0, labels, x)
    sums += chunk_sums.to(sums.dtype)
    counts += torch.bincount(labels, minlength=counts.shape[0]).to(counts.dtype)


class _Pass:
    """One sweep over all rows: labels, squared distances, optional centroid sums."""

    def __init__(self, chunks: RowChunks, k: int, dim: int, with_sums: bool):
        n = len(chunks)
        self.labels = np.empty(n, dtype=np.int64)
        self.sq_distances = np.empty(n, dtype=np.float32)
        self.sums = torch.zeros((k, dim), dtype=torch.float64, device=chunks.device) if with_sums else None
        self.counts = torch.zeros(k, dtype=torch.float64, device=chunks.device) if with_sums else None

    def run(self, chunks: RowChunks, assigner: _Assigner, progress: Progress | None):
        for start, x in chunks:
            labels, sq = assigner(x)
            stop = start + x.shape[0]
            self.labels[start:stop] = labels.cpu().numpy()
            self.sq_distances[start:stop] = sq.cpu().numpy()
            if self.sums is not None:
                _accumulate(self.sums, self.counts, x, labels)
            if progress:
                progress(x.shape[0])
        return self


def _bounded_pass(
    state: YinyangState,
    chunks: RowChunks,
    centroids: torch.Tensor,
    with_sums: bool,
    with_distances: bool,
    progress: Progress | None,
) -> _Pass:
    """The same sweep as `_Pass.run` (labels, sums over the same chunks) through the
    bounds; squared distances are filled only `with_distances` (the sweep a caller keeps)."""
    k, dim = centroids.shape
    sweep = _Pass(chunks, k, dim, with_sums)
    on_block = (lambda rows: progress(len(rows))) if progress else None
    labels, scores = state.sweep(chunks.data, centroids, on_block, with_scores=with_distances)
    for start, x in chunks:
        stop = start + x.shape[0]
        sweep.labels[start:stop] = labels[start:stop].numpy()
        if with_distances:
            sweep.sq_distances[start:stop] = ((x * x).sum(dim=1) - 2 * scores[start:stop]).clamp_(min=0).numpy()
        if with_sums:
            _accumulate(sweep.sums, sweep.counts, x, labels[start:stop])
    return sweep


def _use_bounds(bounds, n: int, k: int, dim: int, device: torch.device, precision: str, backend: str) -> bool:
    """`backend` as the caller asked for it: bounds score with torch's GEMM, which is the
    fast one where cpu_gemm_backend says so or where bf16 screening runs (kmeans_bounds).
    Their memory: 4 bytes per row and centroid group, and a bf16 copy of the rows."""
    if bounds is not None:
        if bounds is not False and (device.type != "cpu" or precision != "fp32" or backend == "faiss"):
            raise ValueError("bounds run fp32 on the CPU with torch's GEMM only")
        if isinstance(bounds, YinyangState) and (len(bounds.labels), bounds.k) != (n, k):
            raise ValueError(f"bounds are for {len(bounds.labels)} rows and {bounds.k} centroids, not {n} and {k}")
        return bounds is not False
    groups = -(-k // kmeans_bounds.GROUP_SIZE)
    fast_gemm = backend == "torch" or (backend == "auto" and (_cpu_fp32_backend() == "torch" or cpu_has_fast_bf16()))
    return (
        device.type == "cpu"
        and precision == "fp32"
        and fast_gemm
        and k >= BOUNDS_MIN_CLUSTERS
        and n * (groups * 4 + dim * 2) <= BOUNDS_MAX_BYTES
    )


def row_chunks(
    data, k: int, device=None, precision: str | None = None, backend: str = "auto", bounds: bool | None = None
) -> RowChunks:
    """Rows chunked for sweeps against `k` centroids. Pass the result as `data` to
    several `kmeans`/`assign` calls (with the same `bounds`) so a GPU uploads (and caches)
    the rows once; the chunks are the ones the plain sweep of the same GEMM would use,
    which keeps centroid sums, and so bounded runs, equal to it."""
    rows, device = as_float32_rows(data), resolve_device(device)
    precision = precision or default_precision(device)
    _, backend = _sweep_backend(bounds, rows.shape[0], k, rows.shape[1], device, precision, backend)
    return RowChunks(rows, device, _chunk_rows(k, device, backend))


def _sweep_backend(bounds, n: int, k: int, dim: int, device, precision: str, backend: str) -> tuple[bool, str]:
    """(whether the sweeps run through bounds, the GEMM backend they use)."""
    use_bounds = _use_bounds(bounds, n, k, dim, device, precision, backend)
    return use_bounds, "torch" if use_bounds else _resolve_backend(backend, device, precision)


def _chunks_for(data, k: int, device: torch.device, backend: str, chunk_rows: int | None) -> RowChunks:
    if isinstance(data, RowChunks):
        if data.device != device:
            raise ValueError(f"row chunks live on {data.device}, asked to run on {device}")
        return data
    return RowChunks(data, device, chunk_rows or _chunk_rows(k, device, backend))


def _data_and_device(data, device) -> tuple[np.ndarray, torch.device]:
    if isinstance(data, RowChunks):
        return data.data, data.device if device is None else resolve_device(device)
    return as_float32_rows(data), resolve_device(device)


def assign(
    data,
    centroids,
    device=None,
    precision: str | None = None,
    backend: str = "auto",
    chunk_rows: int | None = None,
    bounds: YinyangState | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (labels int64 [N]) and squared distance (float32 [N]) per row.
    `data` is an [N, d] array or the `row_chunks` of one. `bounds` (a k-means run's
    `KMeansResult.bounds` on these rows) skips the distances they prove needless."""
    keep_freed_memory()
    rows, device = _data_and_device(data, device)
    precision = precision or default_precision(device)
    centroids_t = to_tensor(as_float32_rows(centroids), device)
    if bounds is not None:
        _use_bounds(bounds, rows.shape[0], *centroids_t.shape, device, precision, backend)
    backend = "torch" if bounds is not None else _resolve_backend(backend, device, precision)
    chunks = _chunks_for(data, len(centroids_t), device, backend, chunk_rows)
    if bounds is not None:
        result = _bounded_pass(bounds, chunks, centroids_t, False, True, progress)
    else:
        result = _Pass(chunks, len(centroids_t), centroids_t.shape[1], False).run(
            chunks, _Assigner(centroids_t, precision, backend), progress
        )
    return result.labels, result.sq_distances


def _sample_rows(data: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`size` distinct rows at random (all rows if fewer) and their indices."""
    if size >= data.shape[0]:
        return np.ascontiguousarray(data, dtype=np.float32), np.arange(data.shape[0])
    rows = np.sort(rng.choice(data.shape[0], size, replace=False))
    return np.ascontiguousarray(data[rows], dtype=np.float32), rows


def _d2_sample(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct rows drawn with probability proportional to `weights`.

    Exponential race keys (Efraimidis-Spirakis) on host-side uniforms: the same
    draw on every device, and robust to tiny float differences in `weights`.
    """
    uniforms = rng.random(len(weights))
    positive = weights > 0
    keys = np.full(len(weights), np.inf)
    keys[positive] = -np.log(uniforms[positive]) / weights[positive]
    if positive.sum() < count:  # fewer distinct points than asked: fill at random
        keys[~positive] = np.finfo(np.float64).max * uniforms[~positive]
    return np.argpartition(keys, count - 1)[:count] if count < len(keys) else np.arange(len(keys))


def _update_min_sq_distance(min_sq, sample, sample_sq_norms, new_centers):
    best_keys = _best_keys(new_centers, -0.5 * (new_centers * new_centers).sum(dim=1), "fp32")
    for start in range(0, sample.shape[0], 1 << 14):
        best, _ = best_keys(sample[start : start + (1 << 14)])
        sq = (sample_sq_norms[start : start + (1 << 14)] - 2 * best).clamp_(min=0)
        torch.minimum(min_sq[start : start + len(sq)], sq, out=min_sq[start : start + len(sq)])


def _greedy_pick(sample, sq_norms, min_sq, candidates: np.ndarray, weights) -> int:
    """The candidate whose addition lowers the (weighted) D^2 potential most."""
    centers = sample[torch.as_tensor(candidates, device=sample.device)]
    sq = torch.addmm(sq_norms[:, None], sample, centers.T, alpha=-2).add_((centers * centers).sum(dim=1))
    reduced = torch.minimum(sq, min_sq[:, None])
    potentials = reduced.sum(dim=0) if weights is None else weights @ reduced
    return int(candidates[int(torch.argmin(potentials))])


def _init_kmeanspp(
    sample: torch.Tensor, k: int, rng: np.random.Generator, mode: str, weights: np.ndarray | None = None
) -> torch.Tensor:
    """D^2 seeding. "plain": classic k-means++, one draw per centre; "greedy":
    best of 2+log k draws per centre, which keeps small isolated groups from
    being skipped; "batched": as many new centres per round as already exist."""
    batched = mode == "batched"
    sq_norms = (sample * sample).sum(dim=1)
    chosen = [int(rng.integers(sample.shape[0]))]
    min_sq = torch.full((sample.shape[0],), float("inf"), device=sample.device)
    _update_min_sq_distance(min_sq, sample, sq_norms, sample[chosen])
    trials = 2 + int(np.log(k)) if mode == "greedy" else 1
    weights_t = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=sample.device)
    while len(chosen) < k:
        count = min(len(chosen) if batched else 1, k - len(chosen))
        d2 = min_sq.double().cpu().numpy()
        if weights is not None:
            d2 *= weights
        d2[chosen] = 0
        new = _d2_sample(d2, count if batched else min(trials, len(d2)), rng)
        new = new[~np.isin(new, chosen)]
        new = new[:count] if batched else np.array([_greedy_pick(sample, sq_norms, min_sq, new, weights_t)])
        chosen.extend(int(i) for i in new)
        _update_min_sq_distance(min_sq, sample, sq_norms, sample[torch.as_tensor(new, device=sample.device)])
    return sample[torch.as_tensor(chosen, device=sample.device)].clone()


def initial_centroids(
    data, k: int, method: str, rng: np.random.Generator, device: torch.device, seed_weights: np.ndarray | None = None
) -> torch.Tensor:
    """`seed_weights` (per row, >= 0) scale each row's D^2 in k-means++ (not in "random")."""
    if method not in INIT_METHODS:
        raise ValueError(f"init must be one of {INIT_METHODS}, got {method!r}")
    if method == "auto":
        method = "kmeans++greedy" if data.shape[0] * k <= EXACT_INIT_MAX_WORK else "kmeans++batched"
    if method == "random":
        return to_tensor(_sample_rows(data, k, rng)[0], device)
    batched = method == "kmeans++batched"
    sample_size = INIT_SAMPLE_PER_CLUSTER * k if batched else data.shape[0]
    sample, rows = _sample_rows(data, sample_size, rng)
    mode = {"kmeans++batched": "batched", "kmeans++greedy": "greedy", "kmeans++": "plain"}[method]
    weights = None if seed_weights is None else seed_weights[rows]
    return _init_kmeanspp(to_tensor(sample, device), k, rng, mode, weights)


def kmeans(
    data,
    k: int,
    iterations: int = 10,
    seed: int = 0,
    init: str = "auto",
    init_centroids=None,
    device=None,
    precision: str | None = None,
    backend: str = "auto",
    chunk_rows: int | None = None,
    relabel: bool = True,
    seed_weights=None,
    bounds: bool | YinyangState | None = None,
    progress: Progress | None = None,
) -> KMeansResult:
    """Lloyd's k-means: `iterations` assignment+update sweeps over all rows.

    With `relabel` (default) one more sweep labels every row against the final
    centroids; without it, labels and distances are those of the last sweep
    (before its update) - enough when a caller re-assigns anyway.
    `bounds` (default: where they pay, see _use_bounds) skips distances the Yinyang
    bounds of kmeans_bounds prove cannot change a label; results equal the plain sweeps'.
    A `YinyangState` (an earlier run's `bounds`, or its `subset` for these rows)
    continues from that run's bounds instead of a first full sweep.
    `progress(rows)` is called after each chunk of every sweep. `data` is an
    [N, d] array (may be memory-mapped) or the `row_chunks` of one.
    Freed memory is kept for reuse from then on (sampling.allocator).
    """
    keep_freed_memory()
    source = data
    data, device = _data_and_device(data, device)
    n, dim = data.shape
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}), got {k}")
    precision = precision or default_precision(device)
    use_bounds, backend = _sweep_backend(bounds, n, k, dim, device, precision, backend)
    rng = np.random.default_rng(seed)
    if init_centroids is None:
        weights = None if seed_weights is None else np.asarray(seed_weights, dtype=np.float64)
        if weights is not None and weights.shape != (n,):
            raise ValueError(f"seed_weights must have one value per row ({n}), got shape {weights.shape}")
        centroids = initial_centroids(data, k, init, rng, device, weights)
    else:
        centroids = to_tensor(as_float32_rows(init_centroids), device)
        if centroids.shape != (k, dim):
            raise ValueError(f"init_centroids must have shape {(k, dim)}, got {tuple(centroids.shape)}")
    chunks = _chunks_for(source, k, device, backend, chunk_rows)
    state = None
    if use_bounds:
        state = bounds if isinstance(bounds, YinyangState) else YinyangState(n, centroids, seed)

    def one_sweep(with_sums: bool, kept: bool) -> _Pass:
        if state is not None:
            return _bounded_pass(state, chunks, centroids, with_sums, kept, progress)
        return _Pass(chunks, k, dim, with_sums).run(chunks, _Assigner(centroids, precision, backend), progress)

    sweep = None
    for iteration in range(iterations):
        sweep = one_sweep(True, kept=not relabel and iteration == iterations - 1)
        _split_empty_clusters(sweep.sums, sweep.counts, rng)
        centroids = (sweep.sums / sweep.counts[:, None]).float()
    if relabel or sweep is None:
        sweep = one_sweep(False, kept=True)
    return KMeansResult(
        centroids.cpu().numpy(),
        sweep.labels,
        sweep.sq_distances,
        float(sweep.sq_distances.astype(np.float64).sum()),
        state,
    )
