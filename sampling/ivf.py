"""Inverted-file (IVF) inner-product search, batched: one GEMM per list, not a scan per query.

faiss's IndexIVFFlat scans each query's lists one vector at a time (memory-bound). A
groups part searches tens of thousands of queries at once, so here the batch is
inverted instead: every query picks its `nprobe` nearest lists (one GEMM against the
k-means centroids + top-k), the (query, list) pairs are grouped by list, and each
list's items - stored contiguously, sorted by list - are scored against all the
queries that probe it in one GEMM, at BLAS speed.

No top-k runs over the score blocks (torch's CPU top-k costs several times the GEMM):
sampling.threshold_topk keeps, per query, the items that reach a lower bound on its
k-th score and sorts them once at the end, so the result is exactly the top k of the
probed lists' items, ties by the smaller id. Lists go to as many worker threads as
torch has, torch single-threaded inside.
"""

from __future__ import annotations

import numpy as np
import torch

from sampling.rows import as_float32_rows
from sampling.threshold_topk import Block, Survivors

TRAIN_ROWS_PER_LIST = 64  # k-means sample: 64 * nlist rows (faiss's lower bound per centroid)
TRAIN_ITERATIONS = 10
SCORE_BUDGET = 1 << 22  # elements of one list's [queries, items] score block (16 MB)
QUERY_CHUNK = 1 << 15  # queries searched together (a groups part's 65,536 captions in two)


def default_nlist(n: int) -> int:
    """Lists for a pool of `n` items: 2 sqrt(n) (2,000 at 1M). Recall for the items scanned
    hardly depends on nlist here, while training grows with it (docs/benchmarks.md, IVF):
    fewer lists than faiss's usual 4 sqrt(n)."""
    return max(1, min(n, int(2 * np.sqrt(n))))


def default_nprobe(nlist: int) -> int:
    """Lists probed per query: nlist / 32, at least 16 (about 3 % of the items at 1M,
    recall@16 about 0.96 on the benchmark's data)."""
    return min(nlist, max(16, nlist // 32))


class IVFIndex:
    """Items clustered into `nlist` lists by spherical k-means (trained on a seeded sample),
    stored sorted by list; `search` probes the `nprobe` nearest lists of each query.
    The same items and seed give the same index and the same results."""

    def __init__(self, items, ids=None, nlist: int | None = None, seed: int = 0, iterations: int = TRAIN_ITERATIONS):
        items = as_float32_rows(items)
        n, self.dim = items.shape
        if n == 0:
            raise ValueError("the item pool is empty")
        self.nlist = min(n, nlist or default_nlist(n))
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, TRAIN_ROWS_PER_LIST * self.nlist), replace=False))
        self.centroids = spherical_kmeans(np.asarray(items[sample], dtype=np.float32), self.nlist, iterations, rng)
        labels = nearest_centroid(items, self.centroids).numpy()
        self.rows = np.argsort(labels, kind="stable")
        self.offsets = np.zeros(self.nlist + 1, dtype=np.int64)
        np.cumsum(np.bincount(labels, minlength=self.nlist), out=self.offsets[1:])
        self.vectors = torch.empty((n, self.dim), dtype=torch.float32)
        for start in range(0, n, 1 << 16):
            part = self.rows[start : start + (1 << 16)]
            self.vectors[start : start + len(part)] = torch.from_numpy(np.asarray(items[part], dtype=np.float32))
        ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        self.ids_t = torch.from_numpy(ids[self.rows])

    def __len__(self) -> int:
        return len(self.rows)

    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def probe(self, queries: torch.Tensor, nprobe: int) -> torch.Tensor:
        """[B, nprobe] list numbers, largest inner product with the centroid first."""
        return (queries @ self.centroids.T).topk(min(nprobe, self.nlist), dim=1).indices

    def search(self, queries, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 [B,k], ids int64 [B,k]) of the k best items among each query's
        `nprobe` (default: default_nprobe) probed lists, best first, ties by the smaller id;
        -inf / -1 where the probed lists hold fewer than k items."""
        queries = torch.as_tensor(as_float32_rows(queries)).float().contiguous()
        if queries.shape[1] != self.dim:
            raise ValueError(f"dimension mismatch: queries have {queries.shape[1]}, items {self.dim}")
        nprobe = min(default_nprobe(self.nlist) if nprobe is None else nprobe, self.nlist)
        chunk = QUERY_CHUNK
        scores = np.empty((len(queries), k), dtype=np.float32)
        ids = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), chunk):
            q = queries[start : start + chunk]
            s, i = Survivors(q, k, self.vectors, self.ids_t).run(_list_blocks(self, self.probe(q, nprobe)))
            scores[start : start + len(q)], ids[start : start + len(q)] = s, i
        return scores, ids


def nearest_centroid(rows, centroids: torch.Tensor, chunk: int = 1 << 14) -> torch.Tensor:
    """Per row, the centroid of largest inner product (int64 [N])."""
    labels = torch.empty(len(rows), dtype=torch.int64)
    for start in range(0, len(rows), chunk):
        block = torch.from_numpy(np.asarray(rows[start : start + chunk], dtype=np.float32))
        labels[start : start + len(block)] = (block @ centroids.T).argmax(dim=1)
    return labels


def spherical_kmeans(sample: np.ndarray, k: int, iterations: int, rng: np.random.Generator) -> torch.Tensor:
    """Unit centroids [k, d]: Lloyd's with assignment by inner product and each centroid
    the normalised mean of its rows (faiss's choice for inner-product IVF). Against
    plain k-means, lists follow directions rather than positions, and probing by inner
    product then scans fewer items for the same recall. Seeded by `rng`; an empty
    cluster restarts at a random row."""
    x = torch.from_numpy(np.ascontiguousarray(sample))
    centroids = torch.nn.functional.normalize(x[torch.from_numpy(rng.choice(len(x), k, replace=False))], dim=1)
    for _ in range(iterations):
        labels = nearest_centroid(sample, centroids)
        sums = torch.zeros((k, x.shape[1]), dtype=torch.float64).index_add_(0, labels, x.double())
        empty = np.flatnonzero(torch.bincount(labels, minlength=k).numpy() == 0)
        sums[torch.from_numpy(empty)] = x[torch.from_numpy(rng.choice(len(x), len(empty)))].double()
        centroids = torch.nn.functional.normalize(sums, dim=1).float()
    return centroids


def _list_blocks(index: IVFIndex, probes: torch.Tensor) -> list[Block]:
    """(query rows, item range) per list, a list's queries split to bound the score
    block; biggest first, so the workers finish together."""
    nprobe = probes.shape[1]
    flat = probes.reshape(-1)
    order = torch.argsort(flat, stable=True)  # (query, probe) pairs grouped by list
    pairs_per_list = torch.bincount(flat, minlength=index.nlist).numpy()
    bounds = np.zeros(index.nlist + 1, dtype=np.int64)
    np.cumsum(pairs_per_list, out=bounds[1:])
    rows = order // nprobe
    blocks = []
    for lst in np.flatnonzero(pairs_per_list):
        lo, hi = int(index.offsets[lst]), int(index.offsets[lst + 1])
        if hi == lo:  # a list no item went to (trained on a sample)
            continue
        step = max(1, SCORE_BUDGET // (hi - lo))
        for p0 in range(int(bounds[lst]), int(bounds[lst + 1]), step):
            blocks.append((rows[p0 : min(p0 + step, int(bounds[lst + 1]))], lo, hi))
    blocks.sort(key=lambda block: -len(block[0]) * (block[2] - block[1]))
    return blocks
