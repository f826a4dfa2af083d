"""The insights report as flat tables (one list of same-keyed dicts each) for CSV/JSON downloads."""

from __future__ import annotations

import csv
import io

# Leading columns of each table (an empty table still gets its header row).
COLUMNS = {
    "precision": [
        "sample",
        "scope",
        "group",
        "label",
        "estimate",
        "low",
        "high",
        "pairs",
        "captions",
        "rests_on_audit",
    ],
    "calibration": ["modality_pair", "label", "similarity", "rank", "predicted"],
    "reliability": ["modality_pair", "label", "bin_low", "bin_high", "predicted", "observed", "low", "high", "pairs"],
    "thresholds": [
        "modality_pair",
        "label",
        "target",
        "recommended",
        "sample",
        "rests_on_audit",
        "threshold",
        "precision",
        "lower",
        "pairs",
    ],
    "drift_flags": [
        "username",
        "metric",
        "suggest_pause",
        "tasks",
        "crowd",
        "own_baseline",
        "own_flag_at",
        "crowd_baseline",
        "crowd_flag_at",
        "flag_at",
        "flagged_at_time",
    ],
    "drift_windows": ["username", "window", "start", "ratings", "median_seconds"],
    "position_bias": ["slot", "pairs", "share_good", "standardised_share_good", "chi2", "dof", "p_value"],
    "throughput": ["start", "count", "per_hour", "rate_per_hour", "eta_hours", "remaining"],
}
TABLES = tuple(COLUMNS)


def flat(report: dict, name: str) -> list[dict]:
    if name not in TABLES:
        raise KeyError(name)
    if name == "precision":
        return report["precision"]
    if name in ("calibration", "reliability"):
        key = "curve" if name == "calibration" else "reliability"
        return [
            {"modality_pair": c["modality_pair"], "label": c["label"], **row}
            for c in report["calibration"]
            for row in c[key]
        ]
    if name == "thresholds":
        return [
            {
                "modality_pair": c["modality_pair"],
                "label": c["label"],
                "target": c["threshold"]["target"],
                "recommended": c["threshold"]["recommended"],
                "sample": c["threshold"]["sample"],
                "rests_on_audit": c["threshold"]["rests_on_audit"],
                **row,
            }
            for c in report["calibration"]
            for row in c["threshold"]["curve"]
        ]
    if name == "drift_flags":
        return [
            {"username": a["username"], "metric": metric, "suggest_pause": a["suggest_pause"], **flags}
            for a in report["drift"]["annotators"]
            for metric, flags in a["flags"].items()
        ]
    if name == "drift_windows":
        return report["drift"]["windows"]
    if name == "position_bias":
        bias = report["position_bias"]
        return [{**row, "chi2": bias["chi2"], "dof": bias["dof"], "p_value": bias["p_value"]} for row in bias["slots"]]
    t = report["throughput"]
    return [
        {**row, "rate_per_hour": t["rate_per_hour"], "eta_hours": t["eta_hours"], "remaining": t["remaining"]}
        for row in t["buckets"]
    ]


def to_csv(rows: list[dict], name: str) -> str:
    out = io.StringIO()
    keys = list(dict.fromkeys([*COLUMNS[name], *(k for row in rows for k in row)]))
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row.get(k) is None else row.get(k) for k in keys} for row in rows)
    return out.getvalue()
