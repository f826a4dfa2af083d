"""Yinyang bounds (sampling/kmeans_bounds.py): the same k-means as plain sweeps, with less work.

"The same" is bit for bit: labels, centroids and squared distances of a bounded run
equal the plain fp32 run's, because every label the bounds keep is proven by more than
the rounding error and every score they compute is a GEMM entry computed as the plain
sweep's GEMM computes it.
"""

import numpy as np
import pytest
import torch

from sampling.curation import hierarchical_kmeans
from sampling.kmeans import assign, kmeans
from sampling.kmeans_bounds import YinyangState


def clustered(n=12000, d=32, centers=300, seed=0):
    """Unit vectors around `centers` centres (as embeddings are), sizes uneven."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centers, d))
    which = rng.choice(centers, size=n, p=np.arange(1, centers + 1)[::-1] / (centers * (centers + 1) / 2))
    x = (means[which] + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def assert_same(a, b):
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centroids, b.centroids)
    assert np.array_equal(a.sq_distances, b.sq_distances)


@pytest.mark.parametrize("relabel", [False, True])
def test_bounded_kmeans_equals_plain_sweeps_bit_for_bit(relabel):
    x = clustered()
    plain = kmeans(x, 450, iterations=8, seed=3, bounds=False, relabel=relabel, backend="torch", init="kmeans++batched")
    bounded = kmeans(
        x, 450, iterations=8, seed=3, bounds=True, relabel=relabel, backend="torch", init="kmeans++batched"
    )
    assert_same(plain, bounded)
    assert bounded.bounds is not None and plain.bounds is None
    # and it skipped work: the first sweep scores every pair, later ones far fewer
    sweeps = 8 + relabel
    assert bounded.bounds.scored_pairs < 0.75 * sweeps * len(x) * 450


def test_bounds_survive_empty_clusters_and_memory_maps(tmp_path):
    x = clustered(n=6000, centers=50)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    start = x[:420].copy()
    start[400:] = 50.0  # centroids no row is near: split from big clusters after sweep 1
    plain = kmeans(x, 420, iterations=5, init_centroids=start, bounds=False, backend="torch")
    bounded = kmeans(mapped, 420, iterations=5, init_centroids=start, bounds=True, backend="torch")
    assert_same(plain, bounded)
    assert len(np.unique(bounded.labels)) == 420


def test_assign_continues_from_a_runs_bounds():
    x = clustered(seed=1)
    run = kmeans(x, 400, iterations=6, seed=0, bounds=True, backend="torch", init="kmeans++batched")
    moved = run.centroids + np.random.default_rng(0).normal(scale=0.01, size=run.centroids.shape).astype(np.float32)
    plain_labels, plain_sq = assign(x, moved, backend="torch")
    before = run.bounds.scored_pairs
    labels, sq = assign(x, moved, backend="torch", bounds=run.bounds)
    assert np.array_equal(labels, plain_labels)
    assert np.array_equal(sq, plain_sq)
    assert run.bounds.scored_pairs - before < 0.5 * len(x) * 400


def test_curation_with_bounds_equals_curation_without():
    x = clustered(n=8000, d=32, centers=300, seed=2)
    args = dict(clusters=[400, 40, 8], resampling_steps=2, sample_sizes=[10, 5, 5], iterations=5, seed=1)
    with_bounds = hierarchical_kmeans(x, bounds=True, **args)
    without = hierarchical_kmeans(x, bounds=False, **args)
    for ours, plain in zip(with_bounds, without):
        assert np.array_equal(ours.labels, plain.labels)
        assert np.array_equal(ours.centroids, plain.centroids)
        assert np.array_equal(ours.sq_distances, plain.sq_distances)


def test_bounds_are_refused_where_they_do_not_apply():
    x = clustered(n=3000)
    with pytest.raises(ValueError, match="CPU"):
        kmeans(x, 400, bounds=True, precision="bf16", device="cpu")
    state = YinyangState(2000, torch.from_numpy(x[:400].copy()), seed=0)
    with pytest.raises(ValueError, match="2000 rows"):
        kmeans(x, 400, bounds=state, init_centroids=x[:400])
    with pytest.raises(ValueError, match="2000 rows"):
        assign(x, x[:400], bounds=state)
