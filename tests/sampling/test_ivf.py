"""Batched IVF search: exactly the best items of the probed lists, ties by smaller id."""

import numpy as np
import pytest
import torch

import sampling.ivf as ivf
import sampling.threshold_topk as threshold_topk
from sampling.ivf import IVFIndex


def restricted_brute_force(index: IVFIndex, items, ids, queries, k: int, nprobe: int):
    """Top-k by float64 score among the items of each query's probed lists, ties by smaller id."""
    probes = index.probe(torch.from_numpy(queries), nprobe).numpy()
    want_scores = np.full((len(queries), k), -np.inf)
    want_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for q, lists in enumerate(probes):
        rows = np.concatenate([index.rows[index.offsets[lst] : index.offsets[lst + 1]] for lst in lists])
        scores = items[rows].astype(np.float64) @ queries[q].astype(np.float64)
        order = np.lexsort((ids[rows], -scores))[:k]
        want_scores[q, : len(order)], want_ids[q, : len(order)] = scores[order], ids[rows][order]
    return want_scores, want_ids


def integer_vectors(rng, rows, dim):
    """Small integers: every dot product is exact in fp32, so ties are exact ties."""
    return rng.integers(-2, 3, size=(rows, dim)).astype(np.float32)


@pytest.mark.parametrize(
    "rows, dim, nlist, nprobe, k",
    [
        (6000, 8, 40, 5, 16),  # lists of ~150 (grouped maxima), many exact ties
        (3000, 6, 12, 3, 16),  # bigger lists with a tail past the last full group
        (400, 4, 60, 2, 16),  # lists smaller than k: some queries find fewer than k items
    ],
)
def test_search_equals_brute_force_over_the_probed_lists(rows, dim, nlist, nprobe, k):
    rng = np.random.default_rng(rows)
    items, queries = integer_vectors(rng, rows, dim), integer_vectors(rng, 300, dim)
    ids = rng.permutation(10 * rows)[:rows]  # ties go to the smaller id, not the smaller row
    index = IVFIndex(items, ids=ids, nlist=nlist, seed=1)
    scores, found = index.search(queries, k, nprobe)
    want_scores, want_ids = restricted_brute_force(index, items, ids, queries, k, nprobe)
    assert np.array_equal(found, want_ids)
    assert np.array_equal(scores, want_scores.astype(np.float32))
    assert (found == -1).any() == (rows == 400)


def test_float_vectors_match_brute_force_and_every_list_probed_is_exact_search():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(5000, 32)).astype(np.float32)
    queries = rng.normal(size=(200, 32)).astype(np.float32)
    ids = np.arange(5000)
    index = IVFIndex(items, nlist=30, seed=0)
    scores, found = index.search(queries, 10, 4)
    want_scores, want_ids = restricted_brute_force(index, items, ids, queries, 10, 4)
    assert (found == want_ids).mean() > 0.999
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    everything = index.search(queries, 10, 30)[1]
    exact = np.argsort(-(queries.astype(np.float64) @ items.T.astype(np.float64)), axis=1)[:, :10]
    assert (everything == exact).mean() > 0.999


def test_split_blocks_and_compaction_give_the_same_answer(monkeypatch, workers):
    rng = np.random.default_rng(4)
    items, queries = integer_vectors(rng, 4000, 8), integer_vectors(rng, 500, 8)
    index = IVFIndex(items, nlist=16, seed=2)
    want = restricted_brute_force(index, items, np.arange(4000), queries, 16, 4)
    monkeypatch.setattr(ivf, "SCORE_BUDGET", 2000)  # a list's queries scored in several blocks
    monkeypatch.setattr(ivf, "QUERY_CHUNK", 64)  # in chunks, each one's survivors compacted often
    monkeypatch.setattr(threshold_topk, "SURVIVOR_BUDGET", 100)
    compacted = []
    original = threshold_topk.Survivors._compact
    monkeypatch.setattr(
        threshold_topk.Survivors, "_compact", lambda self, parts: compacted.append(1) or original(self, parts)
    )
    got = index.search(queries, 16, 4)
    assert compacted and torch.get_num_threads() == workers  # (restored after the search)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0].astype(np.float32))


def test_the_same_seed_gives_the_same_index_and_results():
    rng = np.random.default_rng(5)
    items, queries = rng.normal(size=(3000, 16)).astype(np.float32), rng.normal(size=(100, 16)).astype(np.float32)
    a, b, c = IVFIndex(items, nlist=20, seed=7), IVFIndex(items, nlist=20, seed=7), IVFIndex(items, nlist=20, seed=8)
    assert torch.equal(a.centroids, b.centroids) and np.array_equal(a.offsets, b.offsets)
    assert not torch.equal(a.centroids, c.centroids)
    for x, y in zip(a.search(queries, 8, 3), b.search(queries, 8, 3)):
        assert np.array_equal(x, y)


def test_defaults_probe_a_32nd_of_the_lists_and_at_least_16():
    assert [ivf.default_nlist(n) for n in (1, 10, 500_000, 1_000_000)] == [1, 6, 1414, 2000]
    assert [ivf.default_nprobe(nlist) for nlist in (6, 100, 1414, 2000)] == [6, 16, 44, 62]
    rng = np.random.default_rng(7)
    items, queries = rng.normal(size=(40_000, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    index = IVFIndex(items, seed=0, iterations=2)
    assert index.nlist == 400 and ivf.default_nprobe(400) == 16
    unset = index.search(queries, 8)
    for got, want in zip(unset, index.search(queries, 8, 16)):
        assert np.array_equal(got, want)
    assert not np.array_equal(unset[1], index.search(queries, 8, 4)[1])


def test_bad_input():
    items = np.random.default_rng(6).normal(size=(100, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="empty"):
        IVFIndex(items[:0])
    with pytest.raises(ValueError, match="dimension"):
        IVFIndex(items, nlist=4).search(np.zeros((2, 9), dtype=np.float32), 4, 2)


def test_search_is_identical_run_to_run():
    """Every block's GEMM runs single-threaded in its worker: with MKL splitting small
    GEMMs over threads inside the workers, 3 of 30 repeats differed in a last bit (AMD EPYC)."""
    rng = np.random.default_rng(7)
    items, queries = rng.normal(size=(40_000, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    index = IVFIndex(items, seed=0, iterations=2)
    first = index.search(queries, 8, 16)
    for _ in range(30):
        for got, want in zip(index.search(queries, 8, 16), first):
            assert np.array_equal(got, want)
