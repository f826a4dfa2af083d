"""Project progress, label counts, agreement and per-annotator figures (admin stats).

Everything is aggregated in SQL (GROUP BY), so Python only sees one row per pair and
label, never one per rating row; gold tasks are left out of progress and agreement.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.db.models import Count, F, Q

from ..models import Assignment, PairResult, Project, Rating, Task
from . import agreement

CONSENSUS_STATES = (PairResult.State.AGREED, PairResult.State.ADJUDICATED)


def _pair(caption_modality: str, item_modality: str) -> str:
    return f"{caption_modality or 'unknown'}->{item_modality}"


def progress(project: Project) -> dict:
    tasks = Task.objects.filter(project=project, is_gold=False)
    figures = tasks.aggregate(
        tasks=Count("pk"),
        started=Count("pk", filter=Q(rating_count__gt=0)),
        complete=Count("pk", filter=Q(rating_count__gte=project.annotators_per_task + F("extra_slots"))),
    )
    states = dict(
        Assignment.objects.filter(project=project)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    figures["assignments"] = {state: states.get(state, 0) for state in Assignment.State.values}
    figures["gold_tasks"] = Task.objects.filter(project=project, is_gold=True).count()
    return figures


def labels_and_agreement(project: Project) -> tuple[dict, dict]:
    """Rating labels and consensus states per modality pair; agreement overall and per pair."""
    rows = (
        Rating.objects.filter(
            assignment__project=project, assignment__state=Assignment.State.SUBMITTED, assignment__gold=False
        )
        .values_list("candidate_id", "assignment__task__caption__source_modality", "candidate__item__modality", "label")
        .annotate(n=Count("pk"))
    )
    units: dict[int, dict] = {}
    pair_of: dict[int, str] = {}
    labels: dict[str, dict] = defaultdict(lambda: {"ratings": defaultdict(int), "results": defaultdict(int)})
    for candidate_id, caption_modality, item_modality, label, n in rows:
        pair = pair_of.setdefault(candidate_id, _pair(caption_modality, item_modality))
        units.setdefault(candidate_id, {})[label] = n
        labels[pair]["ratings"][label] += n
    for caption_modality, item_modality, state, label, n in (
        PairResult.objects.filter(project=project)
        .values_list("caption_modality", "item_modality", "state", "label")
        .annotate(n=Count("pk"))
    ):
        key = f"{state}:{label}" if label else state
        labels[_pair(caption_modality, item_modality)]["results"][key] += n

    def matrix(ids):
        return agreement.counts_matrix([label for label, n in units[c].items() for _ in range(n)] for c in ids)

    by_pair: dict[str, list[int]] = defaultdict(list)
    for candidate_id, pair in pair_of.items():
        by_pair[pair].append(candidate_id)
    figures = {
        "overall": agreement.summary(matrix(units)),
        "by_modality_pair": {pair: agreement.summary(matrix(ids)) for pair, ids in sorted(by_pair.items())},
    }
    return {pair: {k: dict(v) for k, v in d.items()} for pair, d in sorted(labels.items())}, figures


def annotators(project: Project) -> list[dict]:
    seconds: dict[int, list[float]] = defaultdict(list)
    for user_id, value in Assignment.objects.filter(
        project=project, state=Assignment.State.SUBMITTED, seconds__isnull=False
    ).values_list("annotator_id", "seconds"):
        seconds[user_id].append(value)
    submitted = dict(
        Assignment.objects.filter(project=project, state=Assignment.State.SUBMITTED)
        .values_list("annotator_id")
        .annotate(n=Count("pk"))
        .values_list("annotator_id", "n")
    )
    agree = {
        row["user"]: row
        for row in (
            Rating.objects.filter(assignment__project=project, candidate__result__state__in=CONSENSUS_STATES)
            .values(user=F("assignment__annotator_id"))
            .annotate(total=Count("pk"), same=Count("pk", filter=Q(label=F("candidate__result__label"))))
        )
    }
    out = []
    for member in project.memberships.select_related("user").order_by("user__username"):
        uid = member.user_id
        row = agree.get(uid)
        out.append(
            {
                "username": member.user.username,
                "paused": member.paused,
                "paused_reason": member.paused_reason,
                "tasks_submitted": submitted.get(uid, 0),
                "median_seconds": statistics.median(seconds[uid]) if seconds[uid] else None,
                "gold_answered": member.gold_answered,
                "gold_accuracy": member.gold_accuracy,
                "agreement_with_consensus": row["same"] / row["total"] if row and row["total"] else None,
            }
        )
    return out


def project_stats(project: Project) -> dict:
    labels, figures = labels_and_agreement(project)
    return {"progress": progress(project), "labels": labels, "agreement": figures, "annotators": annotators(project)}
