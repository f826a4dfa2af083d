"""Inverted-file (IVF) inner-product search, batched: one GEMM per list, not a scan per query.

faiss's IndexIVFFlat scans each query's lists one vector at a time (memory-bound). A
groups part searches tens of thousands of queries at once, so here the batch is
inverted instead: every query picks its `nprobe` nearest lists (one GEMM against the
k-means centroids + top-k), the (query, list) pairs are grouped by list, and each
list's items - stored contiguously, sorted by list - are scored against all the
queries that probe it in one GEMM, at BLAS speed.

No top-k runs over the score blocks (torch's CPU top-k costs several times the GEMM):
each query keeps a threshold that is at most its final k-th score, from elementwise
maxima only, and an item is kept when it reaches it, found through the maxima of
groups of 32 columns. The kept items of a query are sorted once at the end, so the
result is exactly the top k of the probed lists' items, ties by the smaller id.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from sampling.rows import as_float32_rows

TRAIN_ROWS_PER_LIST = 64  # k-means sample: 64 * nlist rows (faiss's lower bound per centroid)
TRAIN_ITERATIONS = 10
SCORE_BUDGET = 1 << 22  # elements of one list's [queries, items] score block (16 MB)
QUERY_CHUNK = 1 << 15  # queries searched together (a groups part's 65,536 captions in two)
SURVIVOR_BUDGET = 1 << 22  # (query, score, id) survivors held before compacting to each query's k best
GROUP_SIZE = 32  # items per group whose maximum is taken before any top-k


def default_nlist(n: int) -> int:
    """Lists for a pool of `n` items: 4 sqrt(n), the usual IVF rule (4,000 at 1M)."""
    return max(1, min(n, int(4 * np.sqrt(n))))


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

    def search(self, queries, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 [B,k], ids int64 [B,k]) of the k best items among each query's
        probed lists, best first, ties by the smaller id; -inf / -1 where the probed
        lists hold fewer than k items."""
        queries = torch.as_tensor(as_float32_rows(queries)).float().contiguous()
        if queries.shape[1] != self.dim:
            raise ValueError(f"dimension mismatch: queries have {queries.shape[1]}, items {self.dim}")
        nprobe = min(nprobe, self.nlist)
        chunk = QUERY_CHUNK
        scores = np.empty((len(queries), k), dtype=np.float32)
        ids = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), chunk):
            q = queries[start : start + chunk]
            s, i = _Survivors(q, k, self).run(self.probe(q, nprobe))
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


def _group_maxima(scores: torch.Tensor, groups: int) -> torch.Tensor:
    """[B, groups] maxima of column groups {g, g + groups, g + 2 groups, ...}: strided,
    so the reduction runs down contiguous rows of the score block."""
    b, n = scores.shape
    full = n // groups
    maxima = torch.as_strided(scores, (b, full, groups), (scores.stride(0), groups, 1)).amax(1)
    tail = n - full * groups
    if tail:
        torch.maximum(maxima[:, :tail], scores[:, full * groups :], out=maxima[:, :tail])
    return maxima


@contextlib.contextmanager
def _one_torch_thread():
    """Run torch ops single-threaded (the workers are the parallelism): small per-list
    ops split over threads mostly wait for each other, the more so on a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Survivors:
    """Per query, every scored item that can still reach its top k: an item survives when
    its score is at least the query's threshold, a lower bound on its final k-th score.
    The bound: an item's column in its list block puts it in one of k bins (column mod k,
    since groups are strided), `best` keeps each bin's maximum per query, and k bin
    maxima are the scores of k distinct items, so their minimum is at most the k-th
    largest score - all from elementwise maxima, no top-k. Survivors are sorted (score,
    then smaller id) at the end, so ties are settled exactly.

    List blocks go to `torch.get_num_threads()` worker threads (torch releases the GIL
    in its ops), each with its own survivors; `best` is updated under a lock. A worker
    may filter with a threshold another one has since raised: still a lower bound, so
    the answer does not depend on the interleaving."""

    def __init__(self, queries: torch.Tensor, k: int, index: IVFIndex):
        self.queries, self.k, self.index = queries, k, index
        self.best = torch.full((len(queries), k), -torch.inf)
        self.lock = threading.Lock()
        self.budget = max(SURVIVOR_BUDGET, 2 * k * len(queries))

    def run(self, probes: torch.Tensor):
        blocks = self._blocks(probes)
        workers = min(torch.get_num_threads(), len(blocks))
        if workers <= 1:
            return self._finish(self._work(iter(blocks)))
        source, lock = iter(blocks), threading.Lock()

        def take():
            while True:
                with lock:
                    block = next(source, None)
                if block is None:
                    return
                yield block

        with _one_torch_thread(), ThreadPoolExecutor(workers) as pool:
            parts = [part for done in pool.map(lambda _: self._work(take()), range(workers)) for part in done]
        return self._finish(parts)

    def _blocks(self, probes: torch.Tensor) -> list[tuple[torch.Tensor, int, int]]:
        """(query rows, item range) per list, a list's queries split to bound the score
        block; biggest first, so the workers finish together."""
        index, nprobe = self.index, probes.shape[1]
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

    def _work(self, blocks) -> list:
        parts, count = [], 0
        for rows, lo, hi in blocks:
            part = self._block(rows, lo, hi)
            parts.append(part)
            count += len(part[0])
            if count > self.budget:
                parts = [self._compact(parts)]
                count = len(parts[0][0])
        return parts

    def _block(self, rows: torch.Tensor, lo: int, hi: int):
        """Score one list's items for the queries `rows`, raise their thresholds; the survivors."""
        k, n = self.k, hi - lo
        scores = torch.mm(self.queries[rows], self.index.vectors[lo:hi].T)
        groups = n if n <= 8 * k else max(4 * k, n // GROUP_SIZE)
        maxima = scores if groups == n else _group_maxima(scores, groups)
        bins = _group_maxima(maxima, k) if groups >= k else maxima
        with self.lock:
            best = torch.maximum(self.best[rows, : bins.shape[1]], bins)
            self.best[rows, : bins.shape[1]] = best
            threshold = (best if groups >= k else self.best[rows]).amin(1)
        hit_row, hit_group = (maxima >= threshold[:, None]).nonzero(as_tuple=True)
        if groups == n:
            return rows[hit_row], maxima[hit_row, hit_group], self.index.ids_t[lo + hit_group]
        cols = hit_group[:, None] + groups * torch.arange(-(-n // groups))
        values = torch.take(scores, cols.clamp(max=n - 1) + (hit_row * n)[:, None])
        keep = (values >= threshold[hit_row][:, None]) & (cols < n)  # a group's last member may lie past the end
        where_row, where_col = keep.nonzero(as_tuple=True)
        return rows[hit_row[where_row]], values[where_row, where_col], self.index.ids_t[lo + cols[where_row, where_col]]

    def _sorted(self, parts):
        """Each query's k best survivors, by score then smaller id: (query, rank, score, id)."""
        query = torch.cat([p[0] for p in parts]).numpy()
        score = torch.cat([p[1] for p in parts]).numpy()
        ident = torch.cat([p[2] for p in parts]).numpy()
        still = score >= self.best.amin(1).numpy()[query]  # thresholds only rose since
        query, score, ident = query[still], score[still], ident[still]
        order = np.lexsort((ident, -score, query))
        query, score, ident = query[order], score[order], ident[order]
        first = np.searchsorted(query, np.arange(len(self.queries)))
        rank = np.arange(len(query)) - first[query]
        keep = rank < self.k
        return query[keep], rank[keep], score[keep], ident[keep]

    def _compact(self, parts):
        """One part of each query's k best survivors (by score, then id: never one of its
        final k dropped)."""
        query, _, score, ident = self._sorted(parts)
        return torch.from_numpy(query), torch.from_numpy(score), torch.from_numpy(ident)

    def _finish(self, parts):
        scores = np.full((len(self.queries), self.k), -np.inf, dtype=np.float32)
        ids = np.full((len(self.queries), self.k), -1, dtype=np.int64)
        if parts:
            query, rank, score, ident = self._sorted(parts)
            scores[query, rank], ids[query, rank] = score, ident
        return scores, ids
