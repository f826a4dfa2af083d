"""Yinyang bounds (sampling/kmeans_bounds.py): the same k-means as plain sweeps, with less work.

"The same" is bit for bit: labels, centroids and squared distances of a bounded run
equal the plain fp32 run's, because every label the bounds keep is proven by more than
the rounding error and every score they compute is a GEMM entry computed as the plain
sweep's GEMM computes it. The bf16 screen runs in both settings on any CPU (emulated
where the CPU lacks bf16), so these hold wherever the suite runs.
"""

import numpy as np
import pytest
import torch

from sampling.curation import hierarchical_kmeans
from sampling.kmeans import assign, kmeans
from sampling import kmeans_bounds
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


@pytest.mark.parametrize("resampling_steps", [0, 2])
def test_curation_with_bounds_equals_curation_without(resampling_steps):
    # more rows than one chunk of the plain sweep (2^23 / 400 rows), so its centroid sums
    # come from several chunks, as the bounded run's must; without resampling the level-1
    # centroids are the main run's, whose sums show any other chunking
    x = clustered(n=45000, d=16, centers=300, seed=2)
    args = dict(clusters=[400, 40, 8], resampling_steps=resampling_steps, sample_sizes=[10, 5, 5], iterations=5, seed=1)
    with_bounds = hierarchical_kmeans(x, bounds=True, **args)
    without = hierarchical_kmeans(x, bounds=False, backend="torch", **args)
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


@pytest.mark.parametrize(
    ("screen", "wide_share"),
    [(False, 0.5), (True, 0.0), (True, 0.5), (True, 1.1)],
    ids=["plain", "wide", "mixed", "narrow"],
)
def test_bounds_with_and_without_the_bf16_screen_equal_plain_sweeps(screen, wide_share, monkeypatch):
    # rows screened on all keys at once (wide), one group at a time (narrow), or by share
    monkeypatch.setattr(kmeans_bounds, "WIDE_SCREEN_GROUPS", wide_share)
    x = clustered(n=9000, d=48, centers=200, seed=4)
    start = x[np.random.default_rng(4).choice(len(x), 420, replace=False)]
    plain = kmeans(x, 420, iterations=7, init_centroids=start, bounds=False, backend="torch")
    state = YinyangState(len(x), torch.from_numpy(start.copy()), seed=0, screen=screen)
    bounded = kmeans(x, 420, iterations=7, init_centroids=start, bounds=state)
    assert_same(plain, bounded)
    assert (state.screened_pairs > 0) == screen
    assert (state.decided_rows > 0) == screen  # labels the bf16 screen settled without fp32
    assert state.scored_pairs < 0.75 * 8 * len(x) * 420  # fp32 work skipped, by bounds and screen


def test_the_bf16_screen_error_bound_holds_for_every_pair():
    """The bound the screen rules groups out with, u|o| + E (kmeans_bounds), covers the
    true error of the bf16 GEMM on rows and centroids of very different norms, with
    scores of every sign and size; it is measured from the rows' and centroids' own
    rounding residuals, so it is also checked to be much tighter than the worst case."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(3000, 96)) * rng.lognormal(0, 2, size=(3000, 1))
    centroids = rng.normal(size=(300, 96)) * rng.lognormal(0, 2, size=(300, 1))
    # rows halfway to a centroid (x.c cancels -|c|^2/2), rows opposite one (x.c and
    # -|c|^2/2 add up), rows of tiny norm (denormal products) and rows with one big term
    rows[:300] = centroids / 2 + rng.normal(scale=1e-3, size=centroids.shape)
    rows[300:600] = -centroids
    rows[600:700] *= 1e-36
    rows[700:800, 0] *= 1e4
    rows, centroids = torch.from_numpy(rows.astype(np.float32)), torch.from_numpy(centroids.astype(np.float32))
    state = YinyangState(len(rows), centroids, seed=0, screen=True)
    state.rows16 = torch.empty(rows.shape, dtype=torch.bfloat16)
    state.residuals16, state.norms16 = torch.empty(len(rows)), torch.empty(len(rows))
    state._fill_rows16(slice(0, len(rows)), rows)
    keys = kmeans_bounds._Keys(state, centroids)
    approx = keys.scores16(state.rows16).double()  # the screen's GEMM
    exact = rows.double() @ keys.keys.double().T + keys.bias.double()
    group = torch.arange(approx.shape[1]) // state.group_size
    error_bound = (
        state.residuals16.double()[:, None] * keys.residual_factor.double()[group]
        + state.norms16.double()[:, None] * keys.norm_factor.double()[group]
        + keys.constant_error.double()[group]
    )
    bound = kmeans_bounds.BF16_UNIT * approx.abs() + error_bound
    real = state.centroid_at >= 0
    error = (approx - exact).abs()[:, real]
    assert bool((error <= bound[:, real]).all())
    assert float((error / bound[:, real]).max()) > 0.1  # and it is not vacuous
    # the per-group screen (its own packed keys) stays within the same bound
    cols = slice(state.group_size, 2 * state.group_size)
    group_approx = keys.group_scores16(1, state.rows16).double()
    group_bound = kmeans_bounds.BF16_UNIT * group_approx.abs() + error_bound[:, cols]
    assert bool(((group_approx - exact[:, cols]).abs() <= group_bound).all())

    # against the worst case on the same group maxima, 3u |x| max|c| + 2u max|b|
    # (rounding x, c, the bias and the output)
    def group_max(values):
        return torch.where(real, values, 0).view(state.n_groups, -1).amax(dim=1)[group]

    c_max, b_max = group_max(keys.keys.norm(dim=1).double()), group_max(torch.where(real, keys.bias, 0).abs().double())
    worst_case = kmeans_bounds.BF16_UNIT * (3 * rows.norm(dim=1).double()[:, None] * c_max + 2 * b_max)
    assert float((bound[:, real] / worst_case[:, real]).median()) < 0.6


def test_faiss_and_torch_fp32_labels_differ_only_within_rounding():
    """On CPUs where faiss's sweep is the plain default, bounded runs (torch GEMM) may pick
    another centroid only where two are within fp32 rounding of each other: rows placed
    halfway between two centroids (up to 1e-7) split between faiss and torch, the
    others agree."""
    rng = np.random.default_rng(6)
    centroids = rng.normal(size=(500, 64)).astype(np.float32)
    pairs = rng.choice(500, size=(4000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    halfway = (centroids[pairs[:, 0]] + centroids[pairs[:, 1]]) / 2 + rng.normal(scale=1e-7, size=(len(pairs), 64))
    x = np.concatenate([clustered(n=4000, d=64, seed=6) * 4, halfway]).astype(np.float32)
    faiss_labels, _ = assign(x, centroids, backend="faiss")
    torch_labels, _ = assign(x, centroids, backend="torch")
    differ = np.flatnonzero(faiss_labels != torch_labels)
    assert len(differ) > 0 and differ.min() >= 4000  # only near-ties differ
    x64, c64 = x.astype(np.float64), centroids.astype(np.float64)
    for row in differ:
        a, b = ((x64[row] - c64[[faiss_labels[row], torch_labels[row]]]) ** 2).sum(axis=1)
        assert abs(a - b) <= 1e-5 * (a + b)
