"""Greedy de-duplication of heavy-hitter items across captions.

Each caption keeps `m` of its ranked candidates, no item is used more than
`cap` times, and pairs are granted greedily in descending score order (ties:
caption, then rank). Because both sides rank pairs by that one global order,
the greedy result is the unique stable assignment, so we compute it with
caption-proposing deferred acceptance in vectorised rounds: every round, each
short caption proposes its next candidates and each item keeps its `cap` best
proposals. This needs no sequential pass over all n*k pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

DEFAULT_M = 3
DEFAULT_CAP = 5
NO_KEY = np.iinfo(np.int64).max
MAX_PAIRS = 1 << 31
PAIR_MASK = MAX_PAIRS - 1  # low bits of an order key: the pair id


@dataclass
class DedupResult:
    chosen: np.ndarray  # [n, m] item ids, best first, -1 where a caption got fewer than m
    chosen_rank: np.ndarray  # [n, m] the chosen candidates' rank in the caption's list, -1 if none
    stats: dict = field(default_factory=dict)


def _validate(indices: np.ndarray, scores: np.ndarray, m: int, cap: int) -> None:
    if indices.ndim != 2 or indices.shape != scores.shape:
        raise ValueError(
            f"indices and scores must be 2-D and of the same shape, got {indices.shape} and {scores.shape}"
        )
    if m < 1 or cap < 1:
        raise ValueError(f"m and cap must be at least 1, got m={m}, cap={cap}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if indices.size >= MAX_PAIRS:
        raise ValueError(f"at most {MAX_PAIRS - 1} (caption, candidate) pairs are supported")


def _rank_rows(indices: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by descending score (stable), repeated items in a row set to -1."""
    if indices.shape[1] > 1 and not (scores[:, :-1] >= scores[:, 1:]).all():
        order = np.argsort(-scores, axis=1, kind="stable")
        indices = np.take_along_axis(indices, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
    k = indices.shape[1]
    if int(indices.max(initial=0)) >= (np.iinfo(np.int64).max - k) // k - 1:  # too big to pack
        by_item = np.argsort(indices, axis=1, kind="stable")
        items_sorted = np.take_along_axis(indices, by_item, axis=1)
    else:  # one value sort of (item, column) codes instead of a stable argsort + gather
        codes = np.sort((indices + 1) * k + np.arange(k), axis=1)
        items_sorted, by_item = np.divmod(codes, k)
        items_sorted -= 1
    repeated = (items_sorted[:, 1:] == items_sorted[:, :-1]) & (items_sorted[:, 1:] >= 0)
    if not repeated.any():
        return indices, scores
    indices = indices.copy()
    rows, cols = np.nonzero(repeated)
    indices[rows, by_item[rows, cols + 1]] = -1
    return indices, scores


def _order_keys(scores: np.ndarray) -> np.ndarray:
    """int64 per pair, smaller = earlier in the greedy order (score desc, then position)."""
    bits = (scores.astype(np.float32) + np.float32(0)).view(np.uint32)  # +0 turns -0.0 into 0.0
    # IEEE bits -> unsigned ints in float order: flip all bits of negatives, the sign of the rest
    ascending = bits ^ ((np.uint32(0) - (bits >> np.uint32(31))) | np.uint32(1 << 31))
    descending = (~ascending).astype(np.int64)
    return (descending << 31) | np.arange(scores.size, dtype=np.int64).reshape(scores.shape)


def _unique_ids(ids: np.ndarray, universe: int) -> np.ndarray:
    """Sorted distinct values of `ids` (all in [0, universe)); avoids np.unique's hashing."""
    if ids.size * 8 > universe:
        seen = np.zeros(universe, dtype=bool)
        seen[ids] = True
        return np.flatnonzero(seen)
    ids = np.sort(ids)
    return ids[np.r_[True, ids[1:] != ids[:-1]]]


def _compact_items(indices: np.ndarray) -> tuple[np.ndarray, int]:
    """Item ids renumbered 0..n_items-1 (-1 stays -1)."""
    valid = indices >= 0
    top = int(indices.max(initial=-1))
    if top < 4 * indices.size + 1024:
        present = np.zeros(top + 2, dtype=np.int64)
        present[indices[valid]] = 1
        new_id = np.cumsum(present) - 1
        return np.where(valid, new_id[np.where(valid, indices, 0)], -1), int(present.sum())
    unique, inverse = np.unique(indices[valid], return_inverse=True)
    compact = np.full(indices.shape, -1, dtype=np.int64)
    compact[valid] = inverse
    return compact, len(unique)


def _add(counter: np.ndarray, where: np.ndarray, sign: int) -> None:
    if where.size * 16 > counter.size:
        counter += sign * np.bincount(where, minlength=counter.size)
    else:
        np.add.at(counter, where, sign)


class _Items:
    """Each item's best proposals so far (at most `width` of them).

    Rows are kept in no particular order; `worst` holds the largest key of a
    full row (NO_KEY while the row has room), which is all admission needs.
    """

    def __init__(self, n_items: int, width: int, flat_items: np.ndarray):
        self.width = width
        self.flat_items = flat_items  # item of each pair id
        self.position = np.zeros(n_items, dtype=np.int64)
        self.keys = np.full((n_items, width), NO_KEY, dtype=np.int64)
        self.pairs = np.full((n_items, width), -1, dtype=np.int64)
        self.fill = np.zeros(n_items, dtype=np.int64)
        self.worst = np.full(n_items, NO_KEY, dtype=np.int64)

    def admissible(self, items: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return keys < self.worst[items]

    def merge(self, items: np.ndarray, keys: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        """Add proposals; return the pairs that lost their place (old or new).

        Items whose held + new proposals still fit just append them; only the
        items that overflow sort their proposals and keep the `width` best.
        """
        overflows = (self.fill + np.bincount(items, minlength=len(self.fill)) > self.width)[items]
        self._append(items[~overflows], keys[~overflows], pairs[~overflows])
        if not overflows.any():
            return np.zeros(0, dtype=np.int64)
        return self._keep_best(items[overflows], keys[overflows], pairs[overflows])

    def _append(self, items: np.ndarray, keys: np.ndarray, pairs: np.ndarray) -> None:
        if not items.size:
            return
        order = np.argsort(items)
        items, keys, pairs = items[order], keys[order], pairs[order]
        starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
        sizes = np.diff(np.r_[starts, len(items)])
        slot = self.fill[items] + (np.arange(len(items)) - np.repeat(starts, sizes))
        self.keys[items, slot] = keys
        self.pairs[items, slot] = pairs
        touched = items[starts]
        self.fill[touched] += sizes
        full = touched[self.fill[touched] == self.width]
        self.worst[full] = self.keys[full].max(axis=1)

    def _keep_best(self, items: np.ndarray, keys: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        touched = _unique_ids(items, len(self.fill))
        held = np.arange(self.width) < self.fill[touched][:, None]
        all_keys = np.sort(np.concatenate([self.keys[touched][held], keys]))  # greedy order
        # a key's low bits are its pair id (see _order_keys): group by item with
        # value sorts, which are much faster than an index lexsort
        all_pairs = all_keys & PAIR_MASK
        all_items = self.flat_items[all_pairs]
        self.position[touched] = np.arange(len(touched))
        grouped = np.sort((self.position[all_items] << 32) | np.arange(len(all_keys), dtype=np.int64))
        order = grouped & 0xFFFFFFFF
        all_items, all_keys, all_pairs = all_items[order], all_keys[order], all_pairs[order]
        starts = np.flatnonzero(np.r_[True, all_items[1:] != all_items[:-1]])
        sizes = np.diff(np.r_[starts, len(all_items)])
        rank = np.arange(len(all_items)) - np.repeat(starts, sizes)
        keep = rank < self.width
        self.keys[all_items[keep], rank[keep]] = all_keys[keep]
        self.pairs[all_items[keep], rank[keep]] = all_pairs[keep]
        self.fill[touched] = self.width  # every touched item overflowed
        self.worst[touched] = self.keys[touched, self.width - 1]
        return all_pairs[~keep]

    def held_pairs(self) -> np.ndarray:
        return self.pairs[np.arange(self.width) < self.fill[:, None]]


def _deferred_acceptance(
    items: np.ndarray, keys: np.ndarray, n_items: int, m: int, cap: int, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Sorted flat pair ids (caption*k + rank) of the greedy assignment."""
    n, k = items.shape
    flat_items, flat_keys = items.ravel(), keys.ravel()
    degree = np.bincount(flat_items[flat_items >= 0], minlength=n_items)
    pool = _Items(n_items, max(1, min(cap, int(degree.max(initial=1)))), flat_items)
    pointer = np.zeros(n, dtype=np.int64)
    held = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    settled_before = 0
    while active.size:
        count = np.minimum(m - held[active], k - pointer[active])
        active, count = active[count > 0], count[count > 0]
        if progress:  # captions that need nothing more are settled
            progress((n - active.size) - settled_before)
            settled_before = n - active.size
        if not active.size:
            break
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        proposals = np.repeat(active * k + pointer[active], count) + within
        pointer[active] += count
        prop_items = flat_items[proposals]
        ok = prop_items >= 0
        ok[ok] = pool.admissible(prop_items[ok], flat_keys[proposals[ok]])
        proposals, prop_items = proposals[ok], prop_items[ok]
        if proposals.size:
            _add(held, proposals // k, +1)
            lost = pool.merge(prop_items, flat_keys[proposals], proposals)
            _add(held, lost // k, -1)
            active = _unique_ids(np.concatenate([active, lost // k]), n)
    if progress:
        progress(n - settled_before)
    return np.sort(pool.held_pairs())


def _statistics(chosen: np.ndarray, chosen_rank: np.ndarray, cap: int) -> dict:
    served = (chosen >= 0).sum(axis=1)
    used = chosen[chosen >= 0]
    _, uses = np.unique(used, return_counts=True)
    distribution = np.bincount(uses, minlength=2)[1:] if uses.size else np.zeros(0, dtype=np.int64)
    dropped = np.flatnonzero(served < chosen.shape[1])
    n = max(len(chosen), 1)
    return {
        "captions": int(len(chosen)),
        "m": int(chosen.shape[1]),
        "cap": int(cap),
        "pairs_chosen": int(used.size),
        "items_used": int(uses.size),
        "max_item_use": int(uses.max(initial=0)),
        "item_use_distribution": {str(i + 1): int(c) for i, c in enumerate(distribution) if c},
        "top1_kept_share": float((chosen_rank[:, 0] == 0).sum() / n),
        "captions_fully_served": int((served == chosen.shape[1]).sum()),
        "captions_dropped": int(len(dropped)),
        "dropped_caption_ids": dropped.tolist(),
        "mean_chosen_rank": float(chosen_rank[chosen_rank >= 0].mean()) if used.size else None,
    }


def greedy_dedup(
    indices, scores, m: int = DEFAULT_M, cap: int = DEFAULT_CAP, progress: Callable[[int], None] | None = None
) -> DedupResult:
    """Choose up to `m` candidates per caption so that no item is used more than `cap` times.

    indices: [n, k] item ids ranked per caption (-1 = no candidate);
    scores: [n, k] similarities. Captions that cannot get `m` candidates keep
    fewer (-1 padded) and are listed in stats["dropped_caption_ids"].
    `progress(count)` reports captions whose choice became final.
    """
    indices = np.asarray(indices, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    _validate(indices, scores, m, cap)
    n, k = indices.shape
    ranked_items, ranked_scores = _rank_rows(indices, scores)
    compact, n_items = _compact_items(ranked_items)
    pairs = _deferred_acceptance(compact, _order_keys(ranked_scores), n_items, m, cap, progress)
    captions, ranks = pairs // k, pairs % k
    slot = np.arange(len(pairs)) - np.searchsorted(captions, captions, side="left")
    chosen = np.full((n, m), -1, dtype=np.int64)
    chosen_rank = np.full((n, m), -1, dtype=np.int64)
    chosen[captions, slot] = ranked_items[captions, ranks]
    chosen_rank[captions, slot] = ranks
    return DedupResult(chosen, chosen_rank, _statistics(chosen, chosen_rank, cap))
