"""What the ratings say about the retrieval: shares with cluster-bootstrap intervals,
calibration of P(good | similarity, rank), a recommended similarity threshold, and
sequential drift tests for annotators. Framework-free (numpy, scipy, scikit-learn).

Pairs of one caption are correlated (an easy caption has several good candidates), so
every interval resamples captions, not pairs: a Poisson(1) weight per caption per
replicate, applied to per-caption sums with one sparse matrix product (no Python loop
over replicates or captions). The formulas are in docs/statistics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

DEFAULT_BOOT = 1000
LEVEL = 0.95
# Weights for at most this many (replicate x caption) cells are drawn at once.
CHUNK_CELLS = 8_000_000


# ---- cluster bootstrap ------------------------------------------------------


def compact(ids) -> tuple[np.ndarray, int]:
    """Any ids -> 0..n-1 codes and n."""
    unique, codes = np.unique(np.asarray(ids), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), len(unique)


def cluster_sums(y, clusters, groups, n_clusters: int, n_groups: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Per (group, cluster) sums of y and pair counts, as sparse [groups x clusters]."""
    y = np.asarray(y, dtype=np.float64)
    shape = (n_groups, n_clusters)
    ones = np.ones(len(y))
    num = sparse.csr_matrix((y, (groups, clusters)), shape=shape)
    den = sparse.csr_matrix((ones, (groups, clusters)), shape=shape)
    num.sum_duplicates()
    den.sum_duplicates()
    return num, den


def _poisson_table(bits: int = 16) -> np.ndarray:
    """Poisson(1) quantiles at the midpoints of 2^bits equal steps: weights[u] for a
    uniform u in 0..2^bits-1 is Poisson(1) to within 2^-bits in probability."""
    cdf = stats.poisson.cdf(np.arange(20), 1.0)
    midpoints = (np.arange(1 << bits) + 0.5) / (1 << bits)
    return np.searchsorted(cdf, midpoints, side="right").astype(np.float32)


POISSON_TABLE = _poisson_table()


def poisson_weights(rng: np.random.Generator, shape) -> np.ndarray:
    """Poisson(1) bootstrap weights (float32) by table lookup (a few times faster than rng.poisson)."""
    return POISSON_TABLE[rng.integers(0, len(POISSON_TABLE), size=shape, dtype=np.uint16)]


def bootstrap_replicates(
    y, clusters, groups, n_groups: int, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sums of y and of pair counts per group for `n_boot` Poisson cluster
    replicates: two [n_boot x n_groups] arrays (replicate b's share of group g is
    num[b, g] / den[b, g]). `clusters`: 0..C-1 codes (e.g. compact(caption ids))."""
    clusters = np.asarray(clusters, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    n_clusters = int(clusters.max(initial=-1)) + 1
    num_sums, den_sums = cluster_sums(y, clusters, groups, n_clusters, n_groups)
    # float32 products: weights are small integers, so counts stay exact below 2^24 per group
    num_sums, den_sums = num_sums.astype(np.float32), den_sums.astype(np.float32)
    rng = np.random.default_rng(seed)
    num = np.empty((n_boot, n_groups))
    den = np.empty((n_boot, n_groups))
    step = max(1, CHUNK_CELLS // max(n_clusters, 1))
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        weights = poisson_weights(rng, (n_clusters, stop - start))
        num[start:stop] = (num_sums @ weights).T
        den[start:stop] = (den_sums @ weights).T
    return num, den


def _ratios(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclass
class Shares:
    """Per group: the share, its interval, pairs and captions behind it."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pairs: np.ndarray
    clusters: np.ndarray

    def rows(self, names) -> list[dict]:
        return [
            {
                "group": name,
                "estimate": _num(self.estimate[i]),
                "low": _num(self.low[i]),
                "high": _num(self.high[i]),
                "pairs": int(self.pairs[i]),
                "captions": int(self.clusters[i]),
            }
            for i, name in enumerate(names)
        ]


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def grouped_shares(
    y, clusters, groups, n_groups: int, n_boot: int = DEFAULT_BOOT, level: float = LEVEL, seed: int = 0
) -> Shares:
    """Share of y per group with percentile cluster-bootstrap intervals.

    y: [n] 0/1 (or weights in [0, 1]) per pair; clusters: [n] caption codes 0..C-1;
    groups: [n] group codes 0..G-1 (a caption may fall in several groups)."""
    y = np.asarray(y, dtype=np.float64)
    clusters = np.asarray(clusters, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    num_sums, den_sums = cluster_sums(y, clusters, groups, int(clusters.max(initial=-1)) + 1, n_groups)
    pairs = np.asarray(den_sums.sum(axis=1)).ravel()
    estimate = _ratios(np.asarray(num_sums.sum(axis=1)).ravel(), pairs)
    num, den = bootstrap_replicates(y, clusters, groups, n_groups, n_boot, seed)
    low, high = percentile_interval(_ratios(num, den), level)
    n_clusters = np.diff(den_sums.indptr)
    return Shares(estimate, low, high, pairs.astype(np.int64), n_clusters.astype(np.int64))


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided percentile interval over axis 0 (NaN replicates ignored)."""
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanquantile(replicates, [tail, 1 - tail], axis=0)
    return low, high


def wilson_interval(successes, n, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The naive binomial (Wilson score) interval: treats every pair as independent."""
    successes, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# ---- bins -------------------------------------------------------------------


def similarity_bins(similarity, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Equal-count bins: (edges [<= n_bins + 1], bin code per pair)."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if len(similarity) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    edges = np.unique(np.quantile(similarity, np.linspace(0, 1, n_bins + 1)))
    if len(edges) == 1:
        return np.array([edges[0], edges[0]]), np.zeros(len(similarity), dtype=np.int64)
    codes = np.clip(np.searchsorted(edges, similarity, side="right") - 1, 0, len(edges) - 2)
    return edges, codes


# ---- calibration ----------------------------------------------------------


def _features(similarity, rank) -> np.ndarray:
    return np.column_stack([np.asarray(similarity, dtype=np.float64), np.log1p(np.asarray(rank, dtype=np.float64))])


def fit_calibration(similarity, rank, good, method: str = "logistic") -> dict:
    """P(good | similarity, rank) as a plain dict (JSON-safe; `predict` applies it).

    logistic: logit P = b0 + b1 * similarity + b2 * log(1 + rank) (sklearn, L2 with C=1e4,
    i.e. close to maximum likelihood); isotonic: a non-decreasing step function of
    similarity alone (sklearn IsotonicRegression), for curves no logistic fits."""
    good = np.asarray(good, dtype=np.float64)
    if len(good) == 0 or good.min() == good.max():
        return {"method": "constant", "p": float(good.mean()) if len(good) else None}
    if method == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e4, max_iter=1000).fit(_features(similarity, rank), good.astype(int))
        return {
            "method": "logistic",
            "intercept": float(model.intercept_[0]),
            "similarity": float(model.coef_[0, 0]),
            "log1p_rank": float(model.coef_[0, 1]),
        }
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            np.asarray(similarity, dtype=np.float64), good
        )
        return {"method": "isotonic", "x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}
    raise ValueError(f"method must be 'logistic' or 'isotonic', got {method!r}")


def predict(model: dict, similarity, rank) -> np.ndarray:
    similarity = np.asarray(similarity, dtype=np.float64)
    if model["method"] == "constant":
        return np.full(similarity.shape, np.nan if model["p"] is None else model["p"])
    if model["method"] == "logistic":
        z = (
            model["intercept"]
            + model["similarity"] * similarity
            + model["log1p_rank"] * np.log1p(np.asarray(rank, dtype=np.float64))
        )
        return 1.0 / (1.0 + np.exp(-z))
    return np.interp(similarity, model["x"], model["y"])


def cross_fitted(
    similarity, rank, good, clusters, method: str = "logistic", folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold predictions: each caption's pairs predicted by a model fitted without
    that caption (folds over captions), so the reliability diagram is honest."""
    similarity, rank, good = (np.asarray(a, dtype=np.float64) for a in (similarity, rank, good))
    clusters = np.asarray(clusters, dtype=np.int64)
    n_clusters = int(clusters.max(initial=-1)) + 1
    fold_of = np.random.default_rng(seed).permutation(n_clusters) % max(2, folds)
    fold = fold_of[clusters] if len(clusters) else np.zeros(0, dtype=np.int64)
    out = np.full(len(good), np.nan)
    for f in range(max(2, folds)):
        test = fold == f
        if test.any() and (~test).any():
            model = fit_calibration(similarity[~test], rank[~test], good[~test], method)
            out[test] = predict(model, similarity[test], rank[test])
    return out


def reliability(predicted, good, clusters, n_bins: int = 10, n_boot: int = DEFAULT_BOOT, seed: int = 0) -> list[dict]:
    """Reliability diagram data: per bin of predicted P(good), mean prediction and the
    observed share with its cluster-bootstrap interval."""
    predicted, good = np.asarray(predicted, dtype=np.float64), np.asarray(good, dtype=np.float64)
    keep = np.isfinite(predicted)
    predicted, good, clusters = predicted[keep], good[keep], np.asarray(clusters)[keep]
    if not len(good):
        return []
    codes = np.minimum((predicted * n_bins).astype(np.int64), n_bins - 1)
    shares = grouped_shares(good, compact(clusters)[0], codes, n_bins, n_boot=n_boot, seed=seed)
    mean_pred = np.bincount(codes, predicted, n_bins) / np.maximum(np.bincount(codes, minlength=n_bins), 1)
    return [
        {
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "predicted": _num(mean_pred[b]),
            "observed": _num(shares.estimate[b]),
            "low": _num(shares.low[b]),
            "high": _num(shares.high[b]),
            "pairs": int(shares.pairs[b]),
        }
        for b in range(n_bins)
        if shares.pairs[b]
    ]


# ---- recommended threshold ------------------------------------------------


def threshold_curve(
    similarity,
    good,
    clusters,
    n_thresholds: int = 100,
    min_pairs: int = 20,
    n_boot: int = DEFAULT_BOOT,
    alpha: float = 0.025,
    seed: int = 0,
) -> dict:
    """Precision of the pairs at or above each candidate threshold, with a one-sided
    (1 - alpha) lower bound from the cluster bootstrap (all thresholds share the replicates).

    Thresholds: quantiles of the similarities, kept where at least `min_pairs` pairs lie
    at or above them."""
    similarity, good = np.asarray(similarity, dtype=np.float64), np.asarray(good, dtype=np.float64)
    if not len(similarity):
        return {"threshold": np.zeros(0), "precision": np.zeros(0), "lower": np.zeros(0), "pairs": np.zeros(0)}
    grid = np.unique(np.quantile(similarity, np.linspace(0, 1, n_thresholds + 1)))
    bins = np.clip(np.searchsorted(grid, similarity, side="right") - 1, 0, len(grid) - 1)
    codes, _ = compact(clusters)
    num, den = bootstrap_replicates(good, codes, bins, len(grid), n_boot, seed)
    # pairs at or above grid[j] = sum over bins >= j: reverse cumulative sums
    num, den = num[:, ::-1].cumsum(axis=1)[:, ::-1], den[:, ::-1].cumsum(axis=1)[:, ::-1]
    pairs = np.bincount(bins, minlength=len(grid))[::-1].cumsum()[::-1]
    hits = np.bincount(bins, good, minlength=len(grid))[::-1].cumsum()[::-1]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lower = np.nanquantile(_ratios(num, den), alpha, axis=0)
    keep = pairs >= min_pairs
    return {
        "threshold": grid[keep],
        "precision": (hits / np.maximum(pairs, 1))[keep],
        "lower": lower[keep],
        "pairs": pairs[keep],
    }


def recommend_threshold(curve: dict, target: float) -> float | None:
    """The lowest threshold whose lower confidence bound meets `target`, or None."""
    meets = np.flatnonzero(np.asarray(curve["lower"]) >= target)
    return float(curve["threshold"][meets[0]]) if len(meets) else None


# ---- drift: Bernoulli CUSUM -------------------------------------------------


def cusum(outcomes, p0: float, p1: float) -> np.ndarray:
    """Page's CUSUM for a drop of a Bernoulli rate from p0 to p1 < p0, vectorised:
    S_t = max(0, S_{t-1} + llr_t) = C_t - min(0, min_{s<=t} C_s), C = cumsum(llr)."""
    x = np.asarray(outcomes, dtype=np.float64)
    llr = np.where(x > 0.5, np.log(p1 / p0), np.log((1 - p1) / (1 - p0)))
    c = np.cumsum(llr, axis=-1)
    return c - np.minimum(np.minimum.accumulate(c, axis=-1), 0.0)


@dataclass
class DriftSettings:
    """A drop of `delta` below the baseline is what the test looks for; `h` sets the
    false-alarm rate (in-control run length >= about e^h tasks) and the delay
    (about h / D tasks, D the mean log-likelihood ratio per task after the drop)."""

    delta: float = 0.2
    h: float = 10.0
    baseline_tasks: int = 40
    prior_strength: float = 10.0


def drift_baseline(outcomes, crowd: float, settings: DriftSettings) -> float:
    """The annotator's own early level, conservatively: the lower 10 % quantile of the
    Beta posterior of the first `baseline_tasks` outcomes under a prior of
    `prior_strength` pseudo-observations at the crowd's rate. (A baseline estimated too
    high would make a steady annotator drift toward a false flag.)"""
    early = np.asarray(outcomes, dtype=np.float64)[: settings.baseline_tasks]
    a = early.sum() + settings.prior_strength * crowd
    b = len(early) - early.sum() + settings.prior_strength * (1 - crowd)
    return float(stats.beta.ppf(0.1, a, b))


def _clip_rate(p: float) -> float:
    return float(np.clip(p, 0.02, 0.98))


def drift_flags(outcomes, crowd: float, settings: DriftSettings | None = None) -> dict:
    """Two CUSUMs over one annotator's ordered 0/1 outcomes (gold correct, or agreement
    with consensus): against their own early level (from task `baseline_tasks` on) and
    against the crowd. Returns the first flagged task index of each (None if none)."""
    settings = settings or DriftSettings()
    x = np.asarray(outcomes, dtype=np.float64)
    out = {"tasks": int(len(x)), "crowd": _num(crowd)}
    for name, p0, start in (("own", drift_baseline(x, crowd, settings), settings.baseline_tasks), ("crowd", crowd, 0)):
        p0 = _clip_rate(p0)
        p1 = _clip_rate(p0 - settings.delta)
        out[f"{name}_baseline"] = _num(p0)
        if p1 >= p0 or len(x) <= start:
            out[f"{name}_flag_at"] = None
            continue
        s = cusum(x[start:], p0, p1)
        crossed = np.flatnonzero(s > settings.h)
        out[f"{name}_flag_at"] = int(crossed[0] + start) if len(crossed) else None
    flags = [v for v in (out["own_flag_at"], out["crowd_flag_at"]) if v is not None]
    out["flag_at"] = min(flags) if flags else None
    return out


def expected_delay(p_after: float, p0: float, settings: DriftSettings | None = None) -> float:
    """About how many tasks the CUSUM needs to flag a rate that fell to `p_after`."""
    settings = settings or DriftSettings()
    p0 = _clip_rate(p0)
    p1 = _clip_rate(p0 - settings.delta)
    drift = p_after * np.log(p1 / p0) + (1 - p_after) * np.log((1 - p1) / (1 - p0))
    return float(settings.h / drift) if drift > 0 else float("inf")


# ---- position bias ----------------------------------------------------------


def position_bias(good, slot, rank) -> dict:
    """Share good by candidate slot at equal retrieval rank: per slot, the share good
    standardised to the overall rank mix (direct standardisation), and a stratified
    chi-square test (sum over ranks of each rank's slot x good table)."""
    good = np.asarray(good, dtype=np.float64)
    slot, rank = np.asarray(slot, dtype=np.int64), np.asarray(rank, dtype=np.int64)
    if not len(good):
        return {"slots": [], "chi2": None, "dof": 0, "p_value": None}
    n_slots, n_ranks = int(slot.max()) + 1, int(rank.max()) + 1
    cell = rank * n_slots + slot
    n = np.bincount(cell, minlength=n_ranks * n_slots).reshape(n_ranks, n_slots)
    g = np.bincount(cell, good, minlength=n_ranks * n_slots).reshape(n_ranks, n_slots)
    weight = n.sum(axis=1) / n.sum()
    chi2, dof = 0.0, 0
    for r in range(n_ranks):
        present = n[r] > 0
        if present.sum() < 2:
            continue
        table = np.stack([g[r, present], n[r, present] - g[r, present]])
        if (table.sum(axis=1) == 0).any():
            continue
        result = stats.chi2_contingency(table, correction=False)
        chi2, dof = chi2 + float(result.statistic), dof + int(result.dof)
    slots = []
    for s in range(n_slots):
        ranks = n[:, s] > 0
        share = g[ranks, s] / n[ranks, s]
        slots.append(
            {
                "slot": s,
                "pairs": int(n[:, s].sum()),
                "share_good": _num(g[:, s].sum() / max(n[:, s].sum(), 1)),
                "standardised_share_good": _num((share * weight[ranks]).sum() / weight[ranks].sum()),
            }
        )
    return {
        "slots": slots,
        "chi2": _num(chi2) if dof else None,
        "dof": dof,
        "p_value": _num(stats.chi2.sf(chi2, dof)) if dof else None,
    }


# ---- throughput -------------------------------------------------------------


def throughput(timestamps, remaining: int, bucket_seconds: float = 3600.0, recent_buckets: int = 6) -> dict:
    """Ratings per hour over time and an ETA: the remaining assignments at the mean rate
    of the last `recent_buckets` buckets (buckets since the first rating, empty ones too)."""
    t = np.sort(np.asarray(timestamps, dtype=np.float64))
    if not len(t):
        return {"buckets": [], "rate_per_hour": None, "eta_hours": None, "remaining": int(remaining)}
    index = ((t - t[0]) // bucket_seconds).astype(np.int64)
    counts = np.bincount(index)
    recent = counts[-recent_buckets:]
    recent_start = t[0] + (len(counts) - len(recent)) * bucket_seconds
    span = max(t[-1] - recent_start, 60.0)  # the last bucket is still filling: real elapsed time
    rate = recent.sum() / span * 3600.0
    per_hour = 3600.0 / bucket_seconds
    return {
        "bucket_seconds": bucket_seconds,
        "buckets": [
            {"start": float(t[0] + i * bucket_seconds), "count": int(c), "per_hour": _num(c * per_hour)}
            for i, c in enumerate(counts)
        ],
        "rate_per_hour": _num(rate),
        "remaining": int(remaining),
        "eta_hours": _num(remaining / rate) if rate else None,
    }


# ---- audit draw -------------------------------------------------------------


def audit_rows(n: int, share: float, seed: int) -> np.ndarray:
    """Which of `n` captions get audit tasks: round(share * n) of them, chosen at random
    (deterministic for the seed)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"audit share must be between 0 and 1, got {share}")
    mask = np.zeros(n, dtype=bool)
    count = int(round(share * n))
    if count:
        mask[np.random.default_rng([int(seed) & 0xFFFFFFFF, 15]).choice(n, size=count, replace=False)] = True
    return mask


def uniform_candidates(indices, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`m` candidates per row drawn uniformly without replacement from the row's ranked
    top-k (`indices` [n, k], -1 = none), kept in rank order: (items [n, m], ranks [n, m]),
    -1 where a row has fewer than `m` candidates."""
    indices = np.asarray(indices, dtype=np.int64)
    n, k = indices.shape
    keys = np.random.default_rng([int(seed) & 0xFFFFFFFF, 16]).random((n, k))
    keys[indices < 0] = np.inf
    ranks = np.sort(np.argsort(keys, axis=1, kind="stable")[:, :m], axis=1)
    valid = np.take_along_axis(keys, ranks, axis=1) < np.inf
    items = np.where(valid, np.take_along_axis(indices, ranks, axis=1), -1)
    return items, np.where(valid, ranks, -1)
