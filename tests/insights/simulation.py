"""Simulated rating projects with known truth (vectorised over projects).

Each caption has a latent easiness u ~ N(0, sigma^2) shared by its candidates (the
caption-level correlation); a pair at retrieval rank r with similarity s is good with
probability sigmoid(a + b * s + u) and good-or-partial with sigmoid(a + b * s + u + 1.5).
Similarity falls with rank: s = 0.8 - 0.02 r + noise. Candidates are drawn uniformly
from the top-k (audit tasks), so the true precision is the mean over ranks.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

A, B, SIGMA, K = -9.0, 14.0, 1.6, 16
GH_X, GH_W = np.polynomial.hermite_e.hermegauss(80)
GH_W = GH_W / GH_W.sum()


def similarity_of(rank, rng):
    return 0.8 - 0.02 * rank + rng.normal(0.0, 0.05, np.shape(rank))


def true_good(similarity, sigma=SIGMA):
    """P(good | similarity) averaged over captions (Gauss-Hermite over u)."""
    s = np.asarray(similarity, dtype=np.float64)
    return (expit(A + B * s[..., None] + sigma * GH_X) * GH_W).sum(axis=-1)


def true_precision(sigma=SIGMA, draws=400_000, seed=12345):
    """Share good over uniformly drawn top-k pairs (per rank and overall)."""
    rng = np.random.default_rng(seed)
    rank = np.repeat(np.arange(K), draws // K)
    p = true_good(similarity_of(rank, rng), sigma)
    per_rank = p.reshape(K, -1).mean(axis=1)
    return float(per_rank.mean()), per_rank


def simulate(n_projects: int, n_captions: int, m: int, seed: int, sigma=SIGMA):
    """Flat arrays over all projects: project, caption (globally unique), rank, slot,
    similarity, good (0/1), good_or_partial (0/1)."""
    rng = np.random.default_rng(seed)
    n = n_projects * n_captions
    ranks = np.sort(np.argsort(rng.random((n, K)), axis=1)[:, :m], axis=1)  # m of top-k, uniformly
    u = rng.normal(0.0, sigma, n)[:, None]
    s = similarity_of(ranks, rng)
    z = A + B * s + u
    noise = rng.logistic(size=ranks.shape)
    good = (z + noise > 0).astype(np.int8)
    fine = (z + 1.5 + noise > 0).astype(np.int8)
    caption = np.repeat(np.arange(n), m)
    return {
        "project": caption // n_captions,
        "caption": caption,
        "rank": ranks.ravel(),
        "slot": np.tile(np.arange(m), n),
        "similarity": s.ravel(),
        "good": good.ravel(),
        "good_or_partial": fine.ravel(),
    }
