"""Hierarchical k-means + balanced sampling: concept coverage, water-filling, quality."""

import numpy as np
import pytest

from sampling.curation import balanced_sample, hierarchical_kmeans, select_per_cluster, water_fill
from sampling.synthetic import balance_report, gaussian_mixture, log_even_sizes

N_CONCEPTS = 20


@pytest.fixture(scope="module")
def imbalanced_concepts():
    """20 well-separated Gaussian concepts whose sizes span 100:1 (30 ... 3000 points)."""
    rng = np.random.default_rng(0)
    sizes = np.round(30 * 100 ** (np.arange(N_CONCEPTS) / (N_CONCEPTS - 1))).astype(int)
    means = rng.normal(size=(N_CONCEPTS, 16)) * 6
    x = np.concatenate([means[i] + rng.normal(size=(s, 16)) for i, s in enumerate(sizes)]).astype(np.float32)
    return x, np.repeat(np.arange(N_CONCEPTS), sizes)


def normalised_entropy(concepts: np.ndarray) -> float:
    p = np.bincount(concepts, minlength=N_CONCEPTS) / len(concepts)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(N_CONCEPTS))


def test_curated_sample_covers_imbalanced_concepts_evenly(imbalanced_concepts):
    x, concept = imbalanced_concepts
    levels = hierarchical_kmeans(x, [100, 20], resampling_steps=2, sample_sizes=[10, 3], seed=0)
    for strategy in ("random", "closest"):
        curated = balanced_sample(levels, 600, strategy=strategy, seed=0)
        assert len(curated) == len(np.unique(curated)) == 600
        assert normalised_entropy(concept[curated]) >= 0.99
    random_sample = np.random.default_rng(1).choice(len(x), 600, replace=False)
    assert normalised_entropy(concept[random_sample]) < 0.85  # about 0.79
    assert not normalised_entropy(concept[random_sample]) >= 0.99


def test_mixture_sizes_fall_log_evenly_as_in_the_issue():
    sizes = log_even_sizes(200_000, 20, 100)
    assert sizes.sum() == 200_000 and sizes[0] == 433 and sizes[1] == 552 and sizes[-1] == 43_399


@pytest.mark.parametrize("seed", range(5))
def test_small_components_keep_their_share_up_the_hierarchy(seed):
    """The issue's mixture at a tenth of its size (20,000 x 64, 20 components 100:1, the
    smallest 43 points; clusters [400, 80, 20], 2 resampling steps [50, 5, 5], 'closest',
    a 10 % sample). Before upper levels weighted their seeding by mass, seeds 1-3 merged
    small components at the top (entropy 0.978-0.989, one component at 28 of its 55 rows).
    The bar: the reference implementation's best figure on the full size (0.993) minus
    0.002, and every component at >= 80 % of min(its size, an equal share)."""
    x, component, sizes = gaussian_mixture(20_000, 64, seed=0)
    levels = hierarchical_kmeans(
        x,
        [400, 80, 20],
        resampling_steps=2,
        sample_sizes=[50, 5, 5],
        strategy="closest",
        seed=seed,
        level1_init="kmeans++batched",
    )
    selected = balanced_sample(levels, 2_000, seed=seed)
    entropy, lowest_share = balance_report(component[selected], sizes)
    assert entropy >= 0.991
    assert lowest_share >= 0.8
    counts = np.bincount(component[selected], minlength=20)
    assert (counts[:4] == sizes[:4]).all()  # components under the equal share are taken whole


def test_batched_level1_seeding_keeps_quality_and_coverage(imbalanced_concepts):
    x, concept = imbalanced_concepts
    results = {}
    for init in ("kmeans++batched", "kmeans++"):
        levels = hierarchical_kmeans(x, [100, 20], resampling_steps=1, sample_sizes=[10, 3], seed=1, level1_init=init)
        sample = balanced_sample(levels, 600, seed=0)
        results[init] = (levels[0].sq_distances.sum(), normalised_entropy(concept[sample]))
    assert results["kmeans++batched"][0] <= 1.03 * results["kmeans++"][0]
    assert results["kmeans++batched"][1] >= results["kmeans++"][1] - 0.005


def test_hierarchy_shapes_and_determinism(imbalanced_concepts):
    x, _ = imbalanced_concepts
    first = hierarchical_kmeans(x, [50, 10, 3], resampling_steps=[1, 1, 0], sample_sizes=5, seed=3)
    second = hierarchical_kmeans(x, [50, 10, 3], resampling_steps=[1, 1, 0], sample_sizes=5, seed=3)
    assert [len(level.centroids) for level in first] == [50, 10, 3]
    assert [len(level.labels) for level in first] == [len(x), 50, 10]
    for a, b in zip(first, second):
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.centroids, b.centroids)
    assert np.array_equal(balanced_sample(first, 123, seed=5), balanced_sample(second, 123, seed=5))
    with pytest.raises(ValueError):
        hierarchical_kmeans(x, [10, 5], resampling_steps=[1, 1, 1])


def test_water_fill_takes_small_clusters_whole_and_caps_large_ones_equally():
    one_group = np.zeros(5, dtype=np.int64)
    assert water_fill(np.array([1, 5, 10, 3, 7]), one_group, np.array([20])).tolist() == [1, 5, 6, 3, 5]
    two_groups = water_fill(np.array([1, 5, 10, 3, 7, 4, 4]), np.array([0, 0, 0, 1, 1, 1, 1]), np.array([9, 100]))
    assert two_groups.tolist() == [1, 4, 4, 3, 7, 4, 4]


def test_water_fill_is_max_min_fair_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(0, 30, rng.integers(1, 12))
        quota = int(rng.integers(0, sizes.sum() + 5))
        allocation = water_fill(sizes, np.zeros(len(sizes), dtype=np.int64), np.array([quota]))
        assert allocation.sum() == min(quota, sizes.sum())
        assert (allocation <= sizes).all() and (allocation >= 0).all()
        not_full = allocation < sizes
        if not_full.any():  # whoever is capped gets at least as much as anyone else, minus one
            assert allocation[not_full].min() >= allocation.max() - 1


def test_balanced_sample_rejects_impossible_targets(imbalanced_concepts):
    x, _ = imbalanced_concepts
    levels = hierarchical_kmeans(x[:500], [10, 2], seed=0)
    assert len(balanced_sample(levels, 500)) == 500
    with pytest.raises(ValueError):
        balanced_sample(levels, 501)


def test_select_per_cluster_picks_the_closest_rows():
    labels = np.array([0, 0, 0, 1, 1, 2])
    distances = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 9.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert select_per_cluster(labels, distances, 2, "closest", rng).tolist() == [1, 2, 3, 4, 5]
    assert select_per_cluster(labels, distances, np.array([1, 0, 1]), "closest", rng).tolist() == [1, 5]
    assert len(select_per_cluster(labels, distances, 1, "random", rng)) == 3
