"""Inter-annotator agreement as pure numpy functions on a counts matrix.

`counts[u, c]` = how many annotators put unit (pair) `u` in category `c`; categories are
ordered (bad, partial, good) for the ordinal metric. Units rated by fewer than two
annotators carry no agreement information and are ignored. Every function returns None
when there is nothing to measure.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

CATEGORIES = ("bad", "partial", "good")  # ordinal order


def counts_matrix(units: Iterable[Iterable[str]], categories=CATEGORIES) -> np.ndarray:
    """Units as lists of labels -> counts matrix."""
    index = {c: i for i, c in enumerate(categories)}
    rows = [np.bincount([index[label] for label in labels], minlength=len(categories)) for labels in units]
    return np.array(rows, dtype=float).reshape(-1, len(categories))


def _pairable(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts[counts.sum(axis=1) >= 2]


def raw_agreement(counts) -> float | None:
    """Mean share of agreeing annotator pairs per unit."""
    counts = _pairable(counts)
    if not len(counts):
        return None
    n = counts.sum(axis=1)
    return float(np.mean(((counts * (counts - 1)).sum(axis=1)) / (n * (n - 1))))


def fleiss_kappa(counts) -> float | None:
    """Fleiss' kappa (1971); units may have different numbers of annotators."""
    counts = _pairable(counts)
    if not len(counts):
        return None
    p_bar = raw_agreement(counts)
    p = counts.sum(axis=0) / counts.sum()
    p_e = float((p**2).sum())
    if p_e >= 1.0:
        return None  # one category only: agreement is undefined
    return (p_bar - p_e) / (1.0 - p_e)


def _delta(marginals: np.ndarray, level: str) -> np.ndarray:
    k = len(marginals)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "interval":
        v = np.arange(k, dtype=float)
        return (v[:, None] - v[None, :]) ** 2
    if level != "ordinal":
        raise ValueError(f"unknown level {level!r}")
    cum = np.concatenate([[0.0], np.cumsum(marginals)])
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    between = cum[hi + 1] - cum[lo]  # sum of marginals from the lower to the higher category
    return (between - (marginals[lo] + marginals[hi]) / 2.0) ** 2


def krippendorff_alpha(counts, level: str = "ordinal") -> float | None:
    """Krippendorff's alpha from the coincidence matrix (ordinal by default)."""
    counts = _pairable(counts)
    if not len(counts):
        return None
    n_u = counts.sum(axis=1)
    coincidence = np.einsum("uc,uk->ck", counts / (n_u - 1)[:, None], counts)
    coincidence -= np.diag((counts / (n_u - 1)[:, None]).sum(axis=0))
    marginals = coincidence.sum(axis=0)
    n = marginals.sum()
    delta = _delta(marginals, level)
    expected = (np.outer(marginals, marginals) * delta).sum()
    if expected == 0:
        return None
    return float(1.0 - (n - 1) * (coincidence * delta).sum() / expected)


def summary(counts) -> dict:
    """All three figures plus how many units they rest on."""
    return {
        "units": int(len(_pairable(counts))),
        "raw_agreement": raw_agreement(counts),
        "fleiss_kappa": fleiss_kappa(counts),
        "krippendorff_alpha": krippendorff_alpha(counts),
    }
