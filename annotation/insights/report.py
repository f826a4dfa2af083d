"""The insights tables of one project, computed over sampling.statistics.

Two samples, two estimands (docs/statistics.md):
- rated: every non-gold pair with a final label. Estimates the precision of the pairs the
  pipeline chose (de-duplicated: heavy-hitter items capped), i.e. of what the export holds.
- audit: the pairs of audit tasks (Project.audit_share), drawn uniformly from each
  caption's top-k. Estimates the precision of the retrieval itself; per-rank and
  per-similarity figures are unbiased only here (`rests_on_audit`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from sampling import statistics as st

from ..models import Project
from . import queries

LABELS = {"good": ("good",), "good_or_partial": ("good", "partial")}
SCOPES = ("overall", "modality_pair", "rank", "similarity_bin")
# Fewer audit pairs than this in a modality pair: its threshold curve uses all rated pairs.
MIN_AUDIT_PAIRS = 100


def outcome(labels: np.ndarray, label: str) -> np.ndarray:
    return np.isin(labels, LABELS[label]).astype(np.float64)


def _scope_groups(data: dict, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Every pair once per scope: (pair index, group code, [(scope, group name)])."""
    n = len(data["label"])
    names: list[tuple[str, str]] = [("overall", "all")]
    index, codes = [np.arange(n)], [np.zeros(n, dtype=np.int64)]
    pair_names, pair_codes = np.unique(data["modality_pair"].astype(str), return_inverse=True) if n else ([], [])
    index.append(np.arange(n))
    codes.append(np.asarray(pair_codes, dtype=np.int64).reshape(-1) + len(names))
    names += [("modality_pair", str(p)) for p in pair_names]
    ranks = np.unique(data["rank"])
    index.append(np.arange(n))
    codes.append(np.searchsorted(ranks, data["rank"]) + len(names))
    names += [("rank", str(int(r))) for r in ranks]
    if n and len(edges) > 1:
        bins = np.clip(np.searchsorted(edges, data["similarity"], side="right") - 1, 0, len(edges) - 2)
        index.append(np.arange(n))
        codes.append(bins + len(names))
        names += [("similarity_bin", f"{edges[b]:.3f}-{edges[b + 1]:.3f}") for b in range(len(edges) - 1)]
    return np.concatenate(index), np.concatenate(codes), names


def precision_rows(data: dict, n_boot: int, seed: int, n_bins: int = 10) -> list[dict]:
    """Shares good and good-or-partial with 95 % cluster-bootstrap intervals, per scope
    and sample. Similarity bins: equal-count bins of all rated pairs' similarities."""
    edges, _ = st.similarity_bins(data["similarity"], n_bins)
    rows = []
    for sample, mask in (("rated", np.ones(len(data["label"]), dtype=bool)), ("audit", data["audit"].astype(bool))):
        subset = {k: v[mask] for k, v in data.items()}
        if not len(subset["label"]):
            continue
        index, groups, names = _scope_groups(subset, edges)
        clusters = st.compact(subset["caption_id"])[0][index]
        for label in LABELS:
            y = outcome(subset["label"], label)[index]
            shares = st.grouped_shares(y, clusters, groups, len(names), n_boot=n_boot, seed=seed)
            for (scope, group), row in zip(names, shares.rows(range(len(names)))):
                if not row["pairs"]:
                    continue
                rows.append(
                    {
                        "sample": sample,
                        "scope": scope,
                        "group": group,
                        "label": label,
                        "estimate": row["estimate"],
                        "low": row["low"],
                        "high": row["high"],
                        "pairs": row["pairs"],
                        "captions": row["captions"],
                        "rests_on_audit": sample == "audit",
                    }
                )
    return rows


def calibration(data: dict, target: float, label: str, n_boot: int, seed: int, method: str = "logistic") -> list[dict]:
    """Per modality pair: the fitted P(label | similarity, rank), a reliability diagram of
    cross-fitted predictions, and the threshold curve with its recommendation."""
    out = []
    for pair in sorted(set(data["modality_pair"].astype(str))):
        mask = data["modality_pair"].astype(str) == pair
        sub = {k: v[mask] for k, v in data.items()}
        y = outcome(sub["label"], label)
        clusters = st.compact(sub["caption_id"])[0]
        model = st.fit_calibration(sub["similarity"], sub["rank"], y, method)
        predicted = st.cross_fitted(sub["similarity"], sub["rank"], y, clusters, method, seed=seed)
        audit = sub["audit"].astype(bool)
        use_audit = audit.sum() >= MIN_AUDIT_PAIRS
        pick = audit if use_audit else np.ones(len(y), dtype=bool)
        curve = st.threshold_curve(sub["similarity"][pick], y[pick], sub["caption_id"][pick], n_boot=n_boot, seed=seed)
        grid = np.linspace(sub["similarity"].min(), sub["similarity"].max(), 25) if len(y) else np.zeros(0)
        ranks = sorted({int(sub["rank"].min()), int(np.median(sub["rank"])), int(sub["rank"].max())}) if len(y) else []
        out.append(
            {
                "modality_pair": pair,
                "label": label,
                "pairs": int(len(y)),
                "audit_pairs": int(audit.sum()),
                "model": model,
                "curve": [
                    {"similarity": round(float(s), 4), "rank": r, "predicted": st._num(p)}
                    for r in ranks
                    for s, p in zip(grid, st.predict(model, grid, np.full(len(grid), r)))
                ],
                "reliability": st.reliability(predicted, y, clusters, n_boot=n_boot, seed=seed),
                "threshold": {
                    "target": target,
                    "recommended": _rounded(st.recommend_threshold(curve, target)),
                    "sample": "audit" if use_audit else "rated",
                    "rests_on_audit": bool(use_audit),
                    "curve": [
                        {
                            "threshold": round(float(t), 4),
                            "precision": st._num(p),
                            "lower": st._num(lo),
                            "pairs": int(n),
                        }
                        for t, p, lo, n in zip(curve["threshold"], curve["precision"], curve["lower"], curve["pairs"])
                    ],
                },
            }
        )
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)  # as the curve's thresholds


def _annotator_outcomes(r: dict) -> dict[str, dict]:
    """Per metric, the ordered 0/1 outcomes of each annotator, and timestamps."""
    metrics = {
        "gold_accuracy": r["gold_label"].astype(str) != "",
        "agreement_with_consensus": r["consensus"].astype(str) != "",
    }
    reference = {"gold_accuracy": r["gold_label"], "agreement_with_consensus": r["consensus"]}
    out = {}
    for metric, present in metrics.items():
        correct = (r["label"] == reference[metric]).astype(np.float64)
        out[metric] = {"present": present, "correct": correct}
    return out


def drift(r: dict, window_seconds: float, settings: st.DriftSettings | None = None) -> dict:
    """Per annotator: time-windowed gold accuracy, agreement with consensus and median
    seconds per task; CUSUM flags against their own early level and the crowd."""
    settings = settings or st.DriftSettings()
    users = sorted(set(zip(r["annotator_id"].tolist(), r["username"].tolist())), key=lambda u: u[1])
    metrics = _annotator_outcomes(r)
    start = float(r["submitted_at"].min()) if len(r["submitted_at"]) else 0.0
    window = (
        np.floor((r["submitted_at"] - start) / window_seconds).astype(np.int64)
        if len(r["submitted_at"])
        else np.zeros(0, dtype=np.int64)
    )
    annotators, windows = [], []
    for user_id, username in users:
        mine = r["annotator_id"] == user_id
        entry = {"username": username, "flags": {}, "suggest_pause": False}
        for metric, m in metrics.items():
            crowd_mask = m["present"] & ~mine
            crowd = float(m["correct"][crowd_mask].mean()) if crowd_mask.any() else None
            own = m["present"] & mine
            x = m["correct"][own]
            if not len(x):
                continue
            flags = st.drift_flags(
                x, crowd if crowd is not None else float(x[: settings.baseline_tasks].mean()), settings
            )
            at = flags["flag_at"]
            flags["flagged_at_time"] = float(r["submitted_at"][own][at]) if at is not None else None
            entry["flags"][metric] = flags
            entry["suggest_pause"] |= at is not None
        # windows: one row per (window, annotator)
        per_task = {}
        for index in np.flatnonzero(mine):
            per_task.setdefault(int(r["assignment_id"][index]), (int(window[index]), float(r["seconds"][index])))
        seconds_by_window = defaultdict(list)
        for w, s in per_task.values():
            if np.isfinite(s):
                seconds_by_window[w].append(s)
        for w in sorted(set(window[mine].tolist())):
            in_window = mine & (window == w)
            row = {
                "username": username,
                "window": int(w),
                "start": start + w * window_seconds,
                "ratings": int(in_window.sum()),
                "median_seconds": st._num(np.median(seconds_by_window[w])) if seconds_by_window[w] else None,
            }
            for metric, m in metrics.items():
                sel = in_window & m["present"]
                row[metric] = st._num(m["correct"][sel].mean()) if sel.any() else None
                row[f"{metric}_n"] = int(sel.sum())
            windows.append(row)
        annotators.append(entry)
    return {"window_seconds": window_seconds, "settings": vars(settings), "annotators": annotators, "windows": windows}


def position(data: dict) -> dict:
    return st.position_bias(outcome(data["label"], "good"), data["slot"], data["rank"])


def throughput(project: Project, bucket_seconds: float = 3600.0) -> dict:
    return st.throughput(queries.submission_times(project), queries.remaining_assignments(project), bucket_seconds)


def insights(
    project: Project,
    target: float = 0.8,
    label: str = "good",
    n_boot: int = st.DEFAULT_BOOT,
    window_seconds: float = 3600.0,
    method: str = "logistic",
) -> dict:
    data = queries.pairs(project)
    r = queries.ratings(project)
    seed = int(project.seed)
    return {
        "project": project.id,
        "pairs": int(len(data["label"])),
        "audit_pairs": int(data["audit"].sum()),
        "audit_share": project.audit_share,
        "n_boot": n_boot,
        "level": st.LEVEL,
        "precision": precision_rows(data, n_boot, seed),
        "calibration": calibration(data, target, label, n_boot, seed, method),
        "drift": drift(r, window_seconds),
        "position_bias": position(data),
        "throughput": throughput(project, window_seconds),
    }
