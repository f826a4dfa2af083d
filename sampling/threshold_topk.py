"""Exact top-k over blocks of GEMM scores without a top-k kernel (shared by exact search and IVF).

torch's CPU top-k costs several times the GEMM that makes its scores. Here each query
keeps a threshold that is at most its final k-th score, from elementwise maxima only,
and a scored item is kept when it reaches it, found through the maxima of groups of 32
columns. The kept items of a query are sorted once at the end by (score, then smaller
id), so the result is exactly the top k of the scored items with every tie settled.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

SURVIVOR_BUDGET = 1 << 22  # (query, score, id) survivors held before compacting to each query's k best
GROUP_SIZE = 32  # items per group whose maximum is taken before any comparison

# A block: the query rows (a slice, or a tensor of row numbers) scored against keys [lo, hi).
Block = tuple[slice | torch.Tensor, int, int]


def group_maxima(scores: torch.Tensor, groups: int) -> torch.Tensor:
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
def one_torch_thread():
    """Run torch ops single-threaded (the workers are the parallelism): small per-block
    ops split over threads mostly wait for each other, the more so on a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _query_numbers(rows: slice | torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    return positions + rows.start if isinstance(rows, slice) else rows[positions]


class Survivors:
    """Per query, every scored item that can still reach its top k: an item survives when
    its score is at least the query's threshold, a lower bound on its final k-th score.
    The bound: an item's column in its block puts it in one of k bins (column mod k,
    since groups are strided), `best` keeps each bin's maximum per query, and k bin
    maxima are the scores of k distinct items, so their minimum is at most the k-th
    largest score - all from elementwise maxima, no top-k. Survivors are sorted (score,
    then smaller id) at the end, so ties are settled exactly.

    Scores are `queries @ keys.T` (+ `key_bias`), block by block. Blocks go to
    `torch.get_num_threads()` worker threads (torch releases the GIL in its ops), each
    with its own survivors; `best` is updated under a lock. A worker may filter with a
    threshold another one has since raised: still a lower bound, so the answer does not
    depend on the interleaving."""

    def __init__(
        self,
        queries: torch.Tensor,
        k: int,
        keys: torch.Tensor,
        ids: torch.Tensor | None = None,
        key_bias: torch.Tensor | None = None,
    ):
        self.queries, self.k, self.keys, self.ids, self.key_bias = queries, k, keys, ids, key_bias
        self.best = torch.full((len(queries), k), -torch.inf)
        self.lock = threading.Lock()
        self.budget = max(SURVIVOR_BUDGET, 2 * k * len(queries))

    def run(self, blocks: list[Block]) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 [B,k], ids int64 [B,k]) of each query's k best scored items, best
        first, ties by the smaller id; -inf / -1 where a query scored fewer than k."""
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

        def work(_):
            # a new thread starts with the default thread count: MKL then splits a block's
            # small GEMM over threads, differently from run to run (last-bit differences,
            # seen on AMD EPYC), and the workers oversubscribe the cores
            torch.set_num_threads(1)
            return self._work(take())

        with one_torch_thread(), ThreadPoolExecutor(workers) as pool:
            parts = [part for done in pool.map(work, range(workers)) for part in done]
        return self._finish(parts)

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

    def _id(self, positions: torch.Tensor) -> torch.Tensor:
        return positions if self.ids is None else self.ids[positions]

    def _block(self, rows, lo: int, hi: int):
        """Score one block, raise its queries' thresholds; the survivors."""
        k, n = self.k, hi - lo
        if self.key_bias is None:
            scores = torch.mm(self.queries[rows], self.keys[lo:hi].T)
        else:
            scores = torch.addmm(self.key_bias[lo:hi], self.queries[rows], self.keys[lo:hi].T)
        groups = n if n <= 8 * k else max(4 * k, n // GROUP_SIZE)
        maxima = scores if groups == n else group_maxima(scores, groups)
        bins = group_maxima(maxima, k) if groups >= k else maxima
        with self.lock:
            best = torch.maximum(self.best[rows, : bins.shape[1]], bins)
            self.best[rows, : bins.shape[1]] = best
            threshold = (best if groups >= k else self.best[rows]).amin(1)
        hit_row, hit_group = (maxima >= threshold[:, None]).nonzero(as_tuple=True)
        if groups == n:
            return _query_numbers(rows, hit_row), maxima[hit_row, hit_group], self._id(lo + hit_group)
        cols = hit_group[:, None] + groups * torch.arange(-(-n // groups))
        values = torch.take(scores, cols.clamp(max=n - 1) + (hit_row * n)[:, None])
        keep = (values >= threshold[hit_row][:, None]) & (cols < n)  # a group's last member may lie past the end
        where_row, where_col = keep.nonzero(as_tuple=True)
        return (
            _query_numbers(rows, hit_row[where_row]),
            values[where_row, where_col],
            self._id(lo + cols[where_row, where_col]),
        )

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
