"""Greedy de-duplication: equals the sequential greedy, respects the cap, vs brute force."""

import itertools

import numpy as np
import pytest

from sampling.dedup import greedy_dedup


def sequential_greedy(indices, scores, m, cap):
    """The definition, one pair at a time: global order by (-score, caption, rank)."""
    n, k = indices.shape
    order = sorted((-float(scores[c, r]), c, r) for c in range(n) for r in range(k))
    uses, taken = {}, [[] for _ in range(n)]
    for _, c, r in order:
        item = int(indices[c, r])
        if item < 0 or len(taken[c]) == m or uses.get(item, 0) == cap or item in [i for i, _ in taken[c]]:
            continue
        taken[c].append((item, r))
        uses[item] = uses.get(item, 0) + 1
    chosen = np.full((n, m), -1)
    for c, pairs in enumerate(taken):
        for slot, (item, _) in enumerate(sorted(pairs, key=lambda pair: pair[1])):
            chosen[c, slot] = item
    return chosen


def random_instance(rng, n, k, n_items, score_levels):
    indices = rng.integers(-1, n_items, size=(n, k))
    scores = rng.integers(0, score_levels, size=(n, k)).astype(np.float32)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(indices, order, 1), np.take_along_axis(scores, order, 1)


def test_matches_the_sequential_definition_with_ties_repeats_and_gaps():
    rng = np.random.default_rng(0)
    for _ in range(300):
        m, cap = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        indices, scores = random_instance(rng, int(rng.integers(1, 12)), int(rng.integers(1, 6)), 8, 4)
        assert np.array_equal(greedy_dedup(indices, scores, m, cap).chosen, sequential_greedy(indices, scores, m, cap))


def test_unsorted_rows_are_ranked_by_score_first():
    indices = np.array([[5, 6, 7]])
    scores = np.array([[0.1, 0.9, 0.5]], dtype=np.float32)
    result = greedy_dedup(indices, scores, m=2, cap=1)
    assert result.chosen.tolist() == [[6, 7]]
    assert result.stats["top1_kept_share"] == 1.0


def test_cap_is_never_exceeded_on_heavy_hitters_and_runs_are_deterministic():
    rng = np.random.default_rng(1)
    n, k = 5000, 16
    indices = (rng.zipf(1.4, size=(n, k)) % 3000).astype(np.int64)
    scores = -np.sort(-rng.random((n, k)).astype(np.float32), axis=1)
    result = greedy_dedup(indices, scores, m=3, cap=4)
    chosen = result.chosen
    _, uses = np.unique(chosen[chosen >= 0], return_counts=True)
    assert uses.max() <= 4 == result.stats["max_item_use"]
    for row, candidates in zip(chosen, indices):
        kept = row[row >= 0]
        assert len(set(kept)) == len(kept) and set(kept) <= set(candidates)
    dropped = np.flatnonzero((chosen < 0).any(axis=1))
    assert result.stats["captions_dropped"] == len(dropped) > 0
    assert result.stats["dropped_caption_ids"] == dropped.tolist()
    assert sum(int(c) * int(u) for u, c in result.stats["item_use_distribution"].items()) == (chosen >= 0).sum()
    again = greedy_dedup(indices, scores, m=3, cap=4)
    assert np.array_equal(again.chosen, chosen) and again.stats == result.stats


def exhaustive_best_total(indices, scores, m, cap):
    """Maximum total similarity over all selections that respect m and cap."""
    n, k = indices.shape
    options = []
    for c in range(n):
        valid = [r for r in range(k) if indices[c, r] >= 0]
        options.append(
            [
                s
                for size in range(min(m, len(valid)) + 1)
                for s in itertools.combinations(valid, size)
                if len({indices[c, r] for r in s}) == len(s)
            ]
        )
    best = 0.0
    for choice in itertools.product(*options):
        uses = np.bincount([indices[c, r] for c, rs in enumerate(choice) for r in rs], minlength=1)
        if uses.max() <= cap:
            best = max(best, sum(scores[c, r] for c, rs in enumerate(choice) for r in rs))
    return best


def test_greedy_is_within_half_of_the_optimum_and_optimal_without_contention():
    rng = np.random.default_rng(2)
    for _ in range(60):
        m, cap = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        indices, scores = random_instance(rng, 4, 3, 4, 10)
        scores = scores + 1  # positive similarities
        greedy = greedy_dedup(indices, scores, m, cap)
        total = sum(scores[c, r] for c, row in enumerate(greedy.chosen_rank) for r in row if r >= 0)
        best = exhaustive_best_total(indices, scores, m, cap)
        assert best / 2 <= total <= best + 1e-6  # greedy b-matching is a 1/2-approximation
        unlimited = greedy_dedup(indices, scores, m, cap=len(indices))
        unlimited_total = sum(scores[c, r] for c, row in enumerate(unlimited.chosen_rank) for r in row if r >= 0)
        assert unlimited_total == pytest.approx(exhaustive_best_total(indices, scores, m, len(indices)))


def test_greedy_reports_what_it_cannot_serve_rather_than_padding():
    # caption 0 prefers item 7 slightly more than caption 1 does; the optimum would
    # serve both (0 -> 8, 1 -> 7), the greedy order serves only caption 0.
    indices = np.array([[7, 8], [7, -1]])
    scores = np.array([[0.9, 0.8], [0.85, 0.0]], dtype=np.float32)
    result = greedy_dedup(indices, scores, m=1, cap=1)
    assert result.chosen.tolist() == [[7], [-1]]
    assert result.stats["dropped_caption_ids"] == [1]
    assert result.stats["top1_kept_share"] == 0.5


@pytest.mark.parametrize("bad", ["shape", "nan", "m", "cap"])
def test_bad_input_raises(bad):
    indices, scores, m, cap = np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3), dtype=np.float32), 1, 1
    if bad == "shape":
        scores = scores[:, :2]
    elif bad == "nan":
        scores[0, 0] = np.nan
    elif bad == "m":
        m = 0
    else:
        cap = 0
    with pytest.raises(ValueError):
        greedy_dedup(indices, scores, m, cap)
