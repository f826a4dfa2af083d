"""Diverse caption sampling: hierarchical k-means + balanced hierarchical sampling.

Our implementation of Vo et al. 2024 ("Automatic Data Curation for
Self-Supervised Learning: A Clustering-Based Approach"). Level 1 clusters the
embeddings, each next level clusters the previous level's centroids; since
centroids spread over concepts far more evenly than raw points do, sampling
equal shares top-down yields a sample balanced across concepts.

Upper levels seed k-means++ with each centroid's D^2 weighted by the points
under it, capped at the median: in high dimensions level 1 keeps a few tiny
clusters of outlying points, whose centroids sit far from their concept's core;
unweighted, big concepts' outlier centroids outweighed a whole small concept
and took its seed, so the top level merged small concepts (entropy 0.970-0.985
instead of 0.993 on the mixture of tests/sampling/test_curation.py). The cap
keeps the many centroids of a big concept from outweighing a small one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sampling.kmeans import KMeansResult, assign, kmeans, row_chunks
from sampling.rows import as_float32_rows

STRATEGIES = ("closest", "random")
# Small upper levels (at most RESTART_MAX_WORK distance evaluations per sweep) run
# this many seedings and keep the lowest inertia: one greedy seeding still merged
# two concepts at the top in about 1 run in 5 on that mixture.
UPPER_LEVEL_RUNS = 8
RESTART_MAX_WORK = 1 << 17


@dataclass
class Level:
    centroids: np.ndarray  # [K_l, d]
    labels: np.ndarray  # [size of the level below]: its rows' cluster in this level
    sq_distances: np.ndarray  # squared distance of those rows to their centroid


def _per_level(value, n_levels: int, name: str) -> list[int]:
    values = [int(value)] * n_levels if np.isscalar(value) else [int(v) for v in value]
    if len(values) != n_levels:
        raise ValueError(f"{name} needs one value per level ({n_levels}), got {len(values)}")
    return values


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def select_per_cluster(
    labels: np.ndarray, sq_distances: np.ndarray, quota, strategy: str, rng: np.random.Generator
) -> np.ndarray:
    """Sorted row indices: `quota` rows of each cluster (scalar or per-cluster array),
    the ones closest to the centroid or a random subset."""
    _check_strategy(strategy)
    key = sq_distances if strategy == "closest" else rng.random(len(labels))
    order = np.lexsort((np.arange(len(labels)), key, labels))
    sorted_labels = labels[order]
    rank = np.arange(len(labels)) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    limit = quota if np.isscalar(quota) else np.asarray(quota)[sorted_labels]
    return np.sort(order[rank < limit])


def _resample_level(
    x,
    chunks,
    result: KMeansResult,
    k: int,
    sample_size: int,
    strategy: str,
    rng: np.random.Generator,
    kmeans_args: dict,
) -> KMeansResult:
    """One resampling step: k-means on `sample_size` rows per cluster, then re-assign
    all rows (`chunks`: x's row chunks, shared so a GPU keeps them resident)."""
    rows = select_per_cluster(result.labels, result.sq_distances, sample_size, strategy, rng)
    if len(rows) < k:  # empty clusters left too few rows: top up at random
        extra = rng.choice(np.setdiff1d(np.arange(x.shape[0]), rows), k - len(rows), replace=False)
        rows = np.sort(np.concatenate([rows, extra]))
    sample = np.ascontiguousarray(x[rows], dtype=np.float32)
    # progress counts full sweeps only; the full run's bounds (kmeans_bounds), where it
    # kept them, carry over to the resample's rows and back to the re-assignment, so
    # neither starts with a full sweep
    sample_args = {**kmeans_args, "progress": None}
    if result.bounds is not None:
        sample_args["bounds"] = result.bounds.subset(rows)
    centroids = kmeans(sample, k, init_centroids=result.centroids, relabel=False, **sample_args).centroids
    labels, sq = assign(
        chunks,
        centroids,
        precision=kmeans_args["precision"],
        backend=kmeans_args["backend"],
        bounds=result.bounds,
        progress=kmeans_args["progress"],
    )
    return KMeansResult(centroids, labels, sq, float(sq.astype(np.float64).sum()), result.bounds)


def level_one_sweeps(iterations: int, resampling_steps: int) -> int:
    """Full passes over the data that level 1 makes (for progress totals)."""
    return iterations + resampling_steps + (1 if resampling_steps == 0 else 0)


def seed_weights(mass: np.ndarray) -> np.ndarray:
    """Upper-level k-means++ weights: points under each centroid, capped at the median."""
    return np.minimum(mass, max(float(np.median(mass)), 1.0))


def hierarchical_kmeans(
    data,
    clusters: Sequence[int],
    resampling_steps=0,
    sample_sizes=10,
    iterations: int = 10,
    strategy: str = "closest",
    seed: int = 0,
    device=None,
    precision: str | None = None,
    level1_init: str = "auto",
    bounds: bool | None = None,
    backend: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> list[Level]:
    """Cluster `data`, then the centroids, level by level (`clusters` per level).

    `resampling_steps` and `sample_sizes` are per level (or one value for all).
    `level1_init` picks the first level's seeding (see kmeans.INIT_METHODS);
    the small upper levels always use exact greedy k-means++ weighted by
    `seed_weights`, which keeps small concepts from being merged at the top.
    `bounds` and `backend` as in kmeans (bounds=False, backend="torch": the plain fp32
    sweeps that bounded runs equal bit for bit).
    """
    data = as_float32_rows(data)
    _check_strategy(strategy)
    n_levels = len(clusters)
    steps = _per_level(resampling_steps, n_levels, "resampling_steps")
    sizes = _per_level(sample_sizes, n_levels, "sample_sizes")
    rng = np.random.default_rng(seed)
    levels: list[Level] = []
    x = data
    mass = None  # points under each row of x (upper levels)
    for level, k in enumerate(clusters):
        kmeans_args = dict(
            iterations=iterations,
            seed=seed + level,
            device=device,
            precision=precision,
            backend=backend,
            progress=progress if level == 0 else None,
        )
        if bounds is not None:
            kmeans_args["bounds"] = bounds
        init = level1_init if level == 0 else "auto"
        chunks = row_chunks(x, int(k), device, precision, backend, bounds)
        weights = None if mass is None else seed_weights(mass)
        runs = UPPER_LEVEL_RUNS if level > 0 and x.shape[0] * int(k) <= RESTART_MAX_WORK else 1
        result = min(
            (
                kmeans(
                    chunks,
                    int(k),
                    init=init,
                    relabel=steps[level] == 0,
                    seed_weights=weights,
                    **{**kmeans_args, "seed": kmeans_args["seed"] + 7919 * run},
                )
                for run in range(runs)
            ),
            key=lambda run: run.inertia,
        )
        for _ in range(steps[level]):
            result = _resample_level(x, chunks, result, int(k), sizes[level], strategy, rng, kmeans_args)
        del chunks  # frees a GPU-resident copy before the next level
        levels.append(Level(result.centroids, result.labels, result.sq_distances))
        mass = np.bincount(result.labels, weights=mass, minlength=int(k))
        x = result.centroids
        if result.bounds is not None:  # bounds score with torch's GEMM: the levels above do too,
            backend = "torch"  # so the whole hierarchy equals a plain backend="torch" run
    return levels


def water_fill(sizes: np.ndarray, groups: np.ndarray, group_quota: np.ndarray) -> np.ndarray:
    """Split each group's quota over its members: members smaller than the
    common cap are taken whole, the rest get the cap (remainder to the largest).

    sizes, groups: per member; group_quota: per group id. Returns int64 quotas.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    order = np.lexsort((np.arange(len(sizes)), sizes, groups))
    s, g = sizes[order], groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, len(s)])
    group_start = np.repeat(starts, counts)
    rank = np.arange(len(s)) - group_start
    members = np.repeat(counts, counts)
    quota = np.minimum(
        np.asarray(group_quota, dtype=np.int64)[g],
        np.add.reduceat(s, starts)[np.repeat(np.arange(len(starts)), counts)],
    )
    before = np.cumsum(s) - s - np.cumsum(np.r_[0, s])[group_start]  # sizes of smaller members
    # first rank j where capping everyone from j on at s_j already reaches the quota
    reaches = s * (members - rank) + before >= quota
    first = np.minimum.reduceat(np.where(reaches, rank, members), starts)
    first_m = np.repeat(first, counts)
    first_before = before[np.minimum(group_start + first_m, len(s) - 1)]
    remaining = np.maximum(members - first_m, 1)
    cap, remainder = np.divmod(np.maximum(quota - first_before, 0), remaining)
    capped = rank >= first_m
    allocation = np.where(capped, cap + (rank >= members - remainder), s)
    result = np.empty_like(sizes)
    result[order] = allocation
    return result


def cluster_sizes(levels: list[Level]) -> list[np.ndarray]:
    """Number of data points under each cluster of each level."""
    sizes = [np.bincount(levels[0].labels, minlength=len(levels[0].centroids))]
    for level in levels[1:]:
        sizes.append(np.bincount(level.labels, weights=sizes[-1], minlength=len(level.centroids)).astype(np.int64))
    return sizes


def balanced_sample(levels: list[Level], target_size: int, strategy: str = "random", seed: int = 0) -> np.ndarray:
    """Sorted row indices of a sample of `target_size` points, balanced top-down."""
    _check_strategy(strategy)
    sizes = cluster_sizes(levels)
    total = int(sizes[0].sum())
    if not 0 <= target_size <= total:
        raise ValueError(f"target_size must be between 0 and the number of points ({total}), got {target_size}")
    top = sizes[-1]
    quota = water_fill(top, np.zeros(len(top), dtype=np.int64), np.array([target_size]))
    for level in range(len(levels) - 1, 0, -1):
        quota = water_fill(sizes[level - 1], levels[level].labels, quota)
    rng = np.random.default_rng(seed)
    return select_per_cluster(levels[0].labels, levels[0].sq_distances, quota, strategy, rng)
