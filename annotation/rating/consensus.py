"""Consensus per (caption, candidate) pair, recomputed in the submit transaction.

Rules, with `n` = annotators_per_task and votes from everyone who submitted:
- unanimous: a label holds once `n` annotators chose it (with the base three, all three);
- majority: a label holds once more than half of the votes chose it (two of three).
A pair whose task has all its ratings but no holding label is contested and goes where
the project says: the admin queue (state contested), extra annotators (one more slot on
the task per round, up to max_extra_annotators; still contested after that, so it lands in
the admin queue), or excluded. Projects with one annotator per task yield `single`.
Adjudicated results are final and never overwritten.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db import connection, transaction
from django.utils import timezone

from ..models import Adjudication, Assignment, PairResult, Project, Task
from . import sql
from .exceptions import WorkflowError


def decide(votes: Counter, rule: str, per_task: int) -> str | None:
    """The label the rule accepts, or None (contested)."""
    if not votes:
        return None
    (label, top), *rest = votes.most_common()
    if rest and rest[0][1] == top:
        return None  # a tie never holds
    if rule == Project.ConsensusRule.UNANIMOUS:
        return label if top >= per_task else None
    return label if top * 2 > sum(votes.values()) else None


def needed(project: Project, task: Task) -> int:
    return project.annotators_per_task + task.extra_slots


def update_task(project: Project, task: Task) -> None:
    """Write the task's PairResults (caller holds the task row lock, inside a transaction)."""
    if task.rating_count < needed(project, task):
        # Not complete (or an undo made it incomplete): no result yet, except final ones.
        PairResult.objects.filter(task=task).exclude(state=PairResult.State.ADJUDICATED).delete()
        return
    candidates: dict[int, str] = {}
    adjudicated: set[int] = set()
    votes: dict[int, Counter] = defaultdict(Counter)
    caption_modality = ""
    with sql.hot_cursor() as cursor:
        cursor.execute(sql.PAIRS, [Assignment.State.SUBMITTED, task.pk])
        for candidate_id, item_modality, caption_modality, result_state, label in cursor.fetchall():
            candidates[candidate_id] = item_modality
            if result_state == PairResult.State.ADJUDICATED:
                adjudicated.add(candidate_id)
            if label is not None:
                votes[candidate_id][label] += 1
    results, contested = [], False
    for candidate_id, item_modality in candidates.items():
        if candidate_id in adjudicated:
            continue
        state, label = _result(project, votes[candidate_id])
        contested |= state == PairResult.State.CONTESTED
        results.append((candidate_id, state, label or "", dict(votes[candidate_id]), item_modality))
    _upsert_results(project, task, caption_modality, results)
    if (
        contested
        and project.contested_route == Project.ContestedRoute.EXTRA_ANNOTATORS
        and task.extra_slots < project.max_extra_annotators
    ):
        _reopen_slot(task)


def _upsert_results(project: Project, task: Task, caption_modality: str, results: list[tuple]) -> None:
    """What bulk_create(update_conflicts=True) sent, as one statement PostgreSQL may prepare: the
    ORM's building of it cost more Python time than the rest of the consensus update."""
    if not results:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    votes_field = PairResult._meta.get_field("votes")
    params = []
    for candidate_id, state, label, votes, item_modality in results:
        params += [
            project.pk,
            task.pk,
            candidate_id,
            state,
            label,
            votes_field.get_db_prep_save(votes, connection),
            caption_modality,
            item_modality,
            now,
        ]
    with sql.hot_cursor() as cursor:
        cursor.execute(sql.upsert_results(len(results)), params)


def _result(project: Project, votes: Counter) -> tuple[str, str | None]:
    if project.annotators_per_task == 1:
        ((label, _),) = votes.most_common(1)
        return PairResult.State.SINGLE, label
    label = decide(votes, project.consensus_rule, project.annotators_per_task)
    if label is not None:
        return PairResult.State.AGREED, label
    if project.contested_route == Project.ContestedRoute.EXCLUDE:
        return PairResult.State.EXCLUDED, None
    return PairResult.State.CONTESTED, None


def _reopen_slot(task: Task) -> None:
    task.extra_slots += 1
    task.open_slots = (task.open_slots or 0) + 1
    Task.objects.filter(pk=task.pk).update(extra_slots=task.extra_slots, open_slots=task.open_slots)


def adjudicate(result_id: int, project: Project, admin, label: str, note: str = "") -> PairResult:
    """An admin settles a contested pair: the result becomes `adjudicated` with that label."""
    with transaction.atomic():
        result = PairResult.objects.select_for_update().get(pk=result_id, project=project)
        if result.state not in (PairResult.State.CONTESTED, PairResult.State.ADJUDICATED):
            raise WorkflowError("not_contested", f"this pair is {result.state}, not contested", 409)
        result.state, result.label = PairResult.State.ADJUDICATED, label
        result.save(update_fields=["state", "label", "updated_at"])
        Adjudication.objects.create(result=result, admin=admin, label=label, note=note)
    return result
