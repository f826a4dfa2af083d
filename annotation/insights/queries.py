"""The rows the insights read, as numpy columns: one query each, no per-row Python work
beyond building the arrays.

pairs: one row per non-gold (caption, candidate) pair with a final label (single,
agreed or adjudicated), with retrieval rank, similarity, slot, audit mark and modalities.
ratings: one row per submitted rating with its annotator, time, seconds, the pair's
consensus (when several annotators agreed or an admin decided) and gold label.
"""

from __future__ import annotations

import numpy as np
from django.db.models import F, Q

from ..models import Assignment, GoldPair, PairResult, Project, Rating, Task

FINAL_STATES = (PairResult.State.SINGLE, PairResult.State.AGREED, PairResult.State.ADJUDICATED)
CONSENSUS_STATES = (PairResult.State.AGREED, PairResult.State.ADJUDICATED)
PAIR_COLUMNS = (
    "candidate_id",
    "caption_id",
    "task_id",
    "audit",
    "slot",
    "rank",
    "similarity",
    "modality_pair",
    "label",
)


def _pair_name(caption_modality: str, item_modality: str) -> str:
    return f"{caption_modality or 'unknown'}->{item_modality}"


def _columns(rows: list[tuple], names: tuple[str, ...], dtypes: dict) -> dict[str, np.ndarray]:
    columns = list(zip(*rows)) if rows else [()] * len(names)
    return {name: np.asarray(values, dtype=dtypes.get(name, object)) for name, values in zip(names, columns)}


def _final_pairs(project: Project):
    return PairResult.objects.filter(project=project, state__in=FINAL_STATES, task__is_gold=False).exclude(label="")


def has_final_pairs(project: Project) -> bool:
    """Whether `pairs` would return anything (one indexed lookup, for request checks)."""
    return _final_pairs(project).exists()


def pairs(project: Project) -> dict[str, np.ndarray]:
    rows = list(
        _final_pairs(project)
        .order_by("candidate_id")
        .values_list(
            "candidate_id",
            "task__caption_id",
            "task_id",
            "task__is_audit",
            "candidate__slot",
            "candidate__retrieval_rank",
            "candidate__similarity",
            "caption_modality",
            "item_modality",
            "label",
        )
    )
    rows = [(*row[:7], _pair_name(row[7], row[8]), row[9]) for row in rows]
    return _columns(
        rows,
        PAIR_COLUMNS,
        {
            "candidate_id": np.int64,
            "caption_id": np.int64,
            "task_id": np.int64,
            "audit": bool,
            "slot": np.int64,
            "rank": np.int64,
            "similarity": np.float64,
        },
    )


RATING_COLUMNS = (
    "annotator_id",
    "username",
    "assignment_id",
    "submitted_at",
    "seconds",
    "label",
    "consensus",
    "gold_label",
)


def ratings(project: Project) -> dict[str, np.ndarray]:
    """Submitted ratings ordered by submission time (then assignment, candidate)."""
    gold = dict(GoldPair.objects.filter(project=project).values_list("candidate_id", "label"))
    rows = list(
        Rating.objects.filter(assignment__project=project, assignment__state=Assignment.State.SUBMITTED)
        .order_by("assignment__submitted_at", "assignment_id", "candidate_id")
        .values_list(
            "assignment__annotator_id",
            "assignment__annotator__username",
            "assignment_id",
            "assignment__submitted_at",
            "assignment__seconds",
            "label",
            "candidate_id",
            "candidate__result__label",
            "candidate__result__state",
        )
    )
    out = [
        (
            a,
            u,
            asg,
            t.timestamp(),
            np.nan if s is None else s,
            label,
            consensus if state in CONSENSUS_STATES and consensus else "",
            gold.get(candidate, ""),
        )
        for a, u, asg, t, s, label, candidate, consensus, state in rows
    ]
    return _columns(
        out,
        RATING_COLUMNS,
        {"annotator_id": np.int64, "assignment_id": np.int64, "submitted_at": np.float64, "seconds": np.float64},
    )


def remaining_assignments(project: Project) -> int:
    """Submissions still needed on non-gold tasks (base slots plus reopened ones)."""
    needed = project.annotators_per_task
    open_tasks = (
        Task.objects.filter(project=project, is_gold=False)
        .filter(Q(rating_count__lt=needed + F("extra_slots")))
        .values_list("rating_count", "extra_slots")
    )
    return int(sum(needed + extra - count for count, extra in open_tasks))


def submission_times(project: Project) -> np.ndarray:
    return np.array(
        [
            t.timestamp()
            for t in Assignment.objects.filter(
                project=project, state=Assignment.State.SUBMITTED, gold=False, submitted_at__isnull=False
            ).values_list("submitted_at", flat=True)
        ],
        dtype=np.float64,
    )
