"""Candidate retrieval: top-k items per caption by inner product in one embedding space.

Exact search is chunked GEMM + top-k in torch (on the CPU in tiles, with
sampling.threshold_topk's selection instead of a top-k kernel),
or faiss IndexFlatIP on CPUs where faiss's BLAS is the faster one
(device.cpu_gemm_backend); an IVF index (sampling.ivf: batched, one GEMM per list)
is the approximate option for pools too big to scan. Big pools can be split into
shards searched separately (e.g. one per worker) and combined with `merge_topk`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from sampling.device import cpu_gemm_backend, resolve_device
from sampling.gemm_topk import KeySet
from sampling.ivf import QUERY_CHUNK as IVF_QUERY_CHUNK
from sampling.ivf import IVFIndex
from sampling.rows import RowChunks, as_float32_rows, check_finite, to_tensor

DEFAULT_K = 16
CPU_QUERY_CHUNK = 1 << 14  # faiss blocks keys itself; torch on the CPU blocks them in KeySet
TORCH_CPU_QUERY_CHUNK = 2048
GPU_SCORE_BUDGET = 1 << 30  # score-matrix elements per GEMM on a GPU (4 GiB in fp32)
METHODS = ("exact", "ivf")
Progress = Callable[[int], None]


def _validate(queries: np.ndarray, items: np.ndarray, k: int) -> None:
    if queries.shape[1] != items.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {queries.shape[1]}, items {items.shape[1]}")
    if not 1 <= k <= items.shape[0]:
        raise ValueError(f"k must be between 1 and the pool size ({items.shape[0]}), got {k}")
    check_finite(queries, "queries")
    check_finite(items, "items")


def merge_topk(results: Sequence[tuple[np.ndarray, np.ndarray]], k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-shard (scores [n,k_i], global ids [n,k_i]) into the overall top-k.

    Ties go to the smaller id, missing entries (id -1) last, so the result does
    not depend on how the pool was split.
    """
    if not results:
        raise ValueError("merge_topk needs at least one (scores, ids) pair")
    k = k or results[0][0].shape[1]
    scores = np.concatenate([np.asarray(s, dtype=np.float32) for s, _ in results], axis=1)
    ids = np.concatenate([np.asarray(i, dtype=np.int64) for _, i in results], axis=1)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


class _FaissSearcher:
    def __init__(self, items: np.ndarray):
        import faiss

        self.index = faiss.IndexFlatIP(items.shape[1])
        for start in range(0, items.shape[0], 1 << 16):
            self.index.add(np.ascontiguousarray(items[start : start + (1 << 16)], dtype=np.float32))

    def __call__(self, queries: torch.Tensor, k: int):
        scores, ids = self.index.search(queries.numpy(), k)
        return np.where(ids < 0, -np.inf, scores).astype(np.float32), ids


class _IVFSearcher:
    """sampling.ivf: exact top-k of the probed lists, ties by the smaller of `ids`."""

    def __init__(self, items: np.ndarray, ids, nlist: int | None, nprobe: int | None, seed: int):
        self.index = IVFIndex(items, ids=ids, nlist=nlist, seed=seed)
        self.nprobe = nprobe

    def __call__(self, queries: torch.Tensor, k: int):
        return self.index.search(queries, k, self.nprobe)


class _TorchSearcher:
    def __init__(self, items: np.ndarray, device: torch.device, precision: str, key_bias: np.ndarray | None):
        bias = None if key_bias is None else torch.from_numpy(key_bias).to(device)
        self.keys = KeySet(to_tensor(items, device), bias, precision)

    def __call__(self, queries: torch.Tensor, k: int):
        scores, ids = self.keys.topk(queries, k)
        return scores.cpu().numpy(), ids.cpu().numpy()


def _with_bias_column(rows: np.ndarray, column) -> np.ndarray:
    """Append a column: inner products of [q, 1] and [x, b] equal q.x + b."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = rows
    out[:, -1] = column
    return out


def _run(
    queries: np.ndarray,
    searcher,
    k: int,
    device: torch.device,
    chunk_rows: int,
    query_scale: float,
    progress: Progress | None,
    append_one: bool,
):
    n = queries.shape[0]
    scores = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    for start, chunk in RowChunks(queries, device, chunk_rows):
        if append_one:
            chunk = torch.from_numpy(_with_bias_column(chunk.numpy(), 1.0))
        if query_scale != 1.0:
            chunk = chunk * query_scale
        s, i = searcher(chunk, k)
        scores[start : start + len(s)], ids[start : start + len(s)] = s, i
        if progress:
            progress(len(s))
    return scores, ids


def item_hubness(queries, items, k: int = DEFAULT_K, **kwargs) -> np.ndarray:
    """Per item: mean similarity to its k nearest queries (the CSLS penalty r_item)."""
    scores, _ = search(items, queries, k=min(k, as_float32_rows(queries).shape[0]), **kwargs)
    return scores.mean(axis=1, dtype=np.float64).astype(np.float32)


def search(
    queries,
    items,
    k: int = DEFAULT_K,
    device=None,
    method: str = "exact",
    nlist: int | None = None,
    nprobe: int | None = None,
    hubness_correction: bool = False,
    hubness_k: int = DEFAULT_K,
    precision: str | None = None,
    chunk_rows: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items per query by inner product: (scores float32 [n,k], ids int64 [n,k]).

    With `hubness_correction`, scores are 2*s - r_item (CSLS), which demotes
    items that are close to everything. `method="ivf"` (CPU, sampling.ivf) is approximate:
    exact over each query's `nprobe` nearest of `nlist` k-means lists (defaults: 2 sqrt(n)
    lists, nlist / 32 of them probed, at least 16; sampling.ivf).
    """
    queries, items = as_float32_rows(queries), as_float32_rows(items)
    _validate(queries, items, k)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    device = resolve_device(device)
    bias = None
    if hubness_correction:
        bias = -item_hubness(
            queries,
            items,
            k=hubness_k,
            device=device,
            method=method,
            nlist=nlist,
            nprobe=nprobe,
            precision=precision,
            chunk_rows=chunk_rows,
            seed=seed,
        )
    scale = 2.0 if hubness_correction else 1.0
    if method == "ivf" or (device.type == "cpu" and cpu_gemm_backend() == "faiss"):
        # [2q, 2] . [x, -r/2] = 2 q.x - r: the bias rides along as an extra dimension
        pool = items if bias is None else _with_bias_column(items, bias / scale)
        searcher = _IVFSearcher(pool, None, nlist, nprobe, seed) if method == "ivf" else _FaissSearcher(pool)
        run_device = torch.device("cpu")
    else:
        searcher = _TorchSearcher(items, device, precision or "fp32", bias)
        run_device = device
    if chunk_rows is None:  # on a GPU, bound the [chunk, pool] score matrix, not the query count
        if run_device.type == "cuda":
            chunk_rows = int(np.clip(GPU_SCORE_BUDGET // items.shape[0], 256, CPU_QUERY_CHUNK))
        else:
            chunk_rows = {_TorchSearcher: TORCH_CPU_QUERY_CHUNK, _IVFSearcher: IVF_QUERY_CHUNK}.get(
                type(searcher), CPU_QUERY_CHUNK
            )
    append_one = bias is not None and not isinstance(searcher, _TorchSearcher)
    return _run(queries, searcher, k, run_device, chunk_rows, scale, progress, append_one)


def search_shards(queries, shards: Sequence, k: int = DEFAULT_K, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k over a pool given as consecutive shards; ids index the concatenated pool."""
    results, offset = [], 0
    for shard in shards:
        shard = as_float32_rows(shard)
        scores, ids = search(queries, shard, k=min(k, shard.shape[0]), **kwargs)
        results.append((scores, np.where(ids < 0, -1, ids + offset)))
        offset += shard.shape[0]
    if k > offset:
        raise ValueError(f"k must be between 1 and the pool size ({offset}), got {k}")
    return merge_topk(results, k)


# ---- a pool prepared once, searched by many query chunks (retrieval groups) ----

# Where ties are not settled by the search itself (a GPU, faiss): extra candidates fetched
# beyond k, so that ties at the k-th score are settled by the smaller id (merge_topk); a
# row whose ties reach past them is searched again on the CPU, where ties are settled.
TIE_MARGIN = 8


class PreparedPool:
    """An item pool (one chunk of a big one) prepared once and searched many times.

    Exact: the same searchers as `search` (torch GEMM + threshold top-k on the CPU, TF32
    on a GPU proven equal to fp32; faiss IndexFlatIP on CPUs where its BLAS is faster);
    `method="ivf"` is sampling.ivf's batched IVF, its lists trained on a seeded sample.
    `search` returns global `ids` (given, or row numbers) ordered by score, ties by the
    smaller id however many there are: exact pools keep their rows in id order, so a
    searcher that settles ties by the smaller row settles them by id.
    """

    def __init__(
        self,
        items,
        ids=None,
        method: str = "exact",
        device=None,
        precision: str | None = None,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ):
        items = as_float32_rows(items)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if items.shape[0] == 0:
            raise ValueError("the item pool is empty")
        check_finite(items, "items")
        self.size, self.dim = items.shape
        self.ids = np.arange(self.size, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(self.ids) != self.size:
            raise ValueError(f"{len(self.ids)} ids for {self.size} items")
        device = resolve_device(device)
        self.settles_ties = True  # the searcher orders exact ties by the smaller id itself
        if method == "ivf":  # searched on the CPU, ties settled by id inside
            self.searcher, self.device = _IVFSearcher(items, self.ids, nlist, nprobe, seed), torch.device("cpu")
            self.chunk_rows = IVF_QUERY_CHUNK
            return
        if np.any(self.ids[1:] < self.ids[:-1]):  # rows in id order: ties by the smaller row are by the smaller id
            order = np.argsort(self.ids, kind="stable")
            items, self.ids = items[order], self.ids[order]
        self.items, self._cpu_searcher = items, None
        precision = precision or ("tf32" if device.type == "cuda" else "fp32")
        if device.type == "cpu" and cpu_gemm_backend() == "faiss":
            self.searcher, self.device = _FaissSearcher(items), torch.device("cpu")
            self.chunk_rows = CPU_QUERY_CHUNK
            self.settles_ties = False
        else:
            self.searcher, self.device = _TorchSearcher(items, device, precision, None), device
            self.chunk_rows = (
                int(np.clip(GPU_SCORE_BUDGET // self.size, 256, CPU_QUERY_CHUNK))
                if device.type == "cuda"
                else TORCH_CPU_QUERY_CHUNK
            )
            self.settles_ties = device.type == "cpu" and precision == "fp32"  # KeySet's threshold top-k

    def search(self, queries, k: int, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 [n,k], ids int64 [n,k]) of the k best items per query."""
        queries = as_float32_rows(queries)
        if queries.shape[1] != self.dim:
            raise ValueError(f"dimension mismatch: queries have {queries.shape[1]}, items {self.dim}")
        if not 1 <= k <= self.size:
            raise ValueError(f"k must be between 1 and the pool size ({self.size}), got {k}")
        check_finite(queries, "queries")
        if isinstance(self.searcher, _IVFSearcher):
            return _run(queries, self.searcher, k, self.device, self.chunk_rows, 1.0, progress, False)
        if self.settles_ties:
            scores, rows = _run(queries, self.searcher, k, self.device, self.chunk_rows, 1.0, progress, False)
            return scores, self.ids[rows]
        wide = min(self.size, k + TIE_MARGIN)
        scores, rows = _run(queries, self.searcher, wide, self.device, self.chunk_rows, 1.0, progress, False)
        unsure = np.flatnonzero(scores[:, k - 1] == scores[:, wide - 1]) if wide < self.size else []
        scores, ids = merge_topk([(scores, np.where(rows < 0, -1, self.ids[np.maximum(rows, 0)]))], k)
        if len(unsure):  # the k-th score's ties may reach past the window: settle those rows on the CPU
            if self._cpu_searcher is None:
                self._cpu_searcher = _TorchSearcher(self.items, torch.device("cpu"), "fp32", None)
            cpu = torch.device("cpu")
            exact_scores, exact_rows = _run(
                queries[unsure], self._cpu_searcher, k, cpu, TORCH_CPU_QUERY_CHUNK, 1.0, None, False
            )
            scores[unsure], ids[unsure] = exact_scores, self.ids[exact_rows]
        return scores, ids


def recall_at_k(found_ids: np.ndarray, true_ids: np.ndarray) -> float:
    """Mean fraction of each row's true top-k ids that `found_ids` holds (ids >= 0)."""
    found_ids, true_ids = np.asarray(found_ids), np.asarray(true_ids)
    if found_ids.shape[0] != true_ids.shape[0]:
        raise ValueError("recall_at_k needs the same rows in both")
    if true_ids.size == 0:
        return 1.0
    hits = (found_ids[:, :, None] == true_ids[:, None, :]) & (true_ids[:, None, :] >= 0)
    return float(hits.any(axis=1).sum() / max(int((true_ids >= 0).sum()), 1))
