"""Synthetic embeddings with known concepts, for curation tests and benchmarks."""

from __future__ import annotations

import numpy as np


def log_even_sizes(rows: int, components: int, ratio: float) -> np.ndarray:
    """Component sizes falling log-evenly from `ratio`:1, summing to `rows` (the
    rounding remainder goes to the largest): 200,000 rows, 20 components, 100:1 gives
    433, 552, ..., 43,399."""
    weights = ratio ** (np.arange(components) / max(components - 1, 1))
    sizes = np.floor(rows * weights / weights.sum()).astype(np.int64)
    sizes[-1] += rows - sizes.sum()
    return sizes


def gaussian_mixture(
    rows: int = 200_000,
    dim: int = 64,
    components: int = 20,
    ratio: float = 100.0,
    separation: float = 3.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Well-separated unit-variance Gaussian components (means drawn with standard deviation
    `separation` per coordinate: about 4 sigma of radius apart in 64 dimensions) with
    `log_even_sizes`. Returns float32 points, each point's component, and the sizes."""
    sizes = log_even_sizes(rows, components, ratio)
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(components, dim)) * separation
    component = np.repeat(np.arange(components), sizes)
    x = means[component].astype(np.float32)
    x += rng.normal(size=(rows, dim)).astype(np.float32)
    return x, component, sizes


def normalised_entropy(labels: np.ndarray, n_labels: int) -> float:
    """Entropy of the label counts over log(n_labels): 1 when all labels are equally common."""
    p = np.bincount(labels, minlength=n_labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(n_labels))


def balance_report(selected_components: np.ndarray, sizes: np.ndarray) -> tuple[float, float]:
    """(normalised entropy over the components, lowest ratio of a component's count to
    min(its size, an equal share of the sample))."""
    counts = np.bincount(selected_components, minlength=len(sizes))
    share = np.minimum(sizes, len(selected_components) / len(sizes))
    return normalised_entropy(selected_components, len(sizes)), float((counts / share).min())
