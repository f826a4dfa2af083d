"""Gold pairs: admins mark pairs with a known label; annotators are scored on them.

A task with a gold pair becomes a gold task: it leaves the regular slot pool
(open_slots = 0) and is served to every annotator at the project's gold_rate, with the
same payload as any task. Scores are kept on ProjectMember in the submit transaction;
an annotator whose accuracy falls below gold_pause_threshold, after gold_min_answers gold
pairs, is paused (paused_reason 'gold') until an admin unpauses them.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from ..models import Assignment, GoldPair, Project, ProjectMember, Task, TaskCandidate
from .exceptions import WorkflowError


def mark_gold(project: Project, pairs: dict[int, str], admin) -> list[GoldPair]:
    """Set known labels for candidates (ids) of this project's tasks; all or nothing."""
    with transaction.atomic():
        candidates = dict(
            TaskCandidate.objects.filter(pk__in=pairs, task__project=project).values_list("pk", "task_id")
        )
        unknown = sorted(set(pairs) - set(candidates))
        if unknown:
            raise WorkflowError("unknown_candidate", f"candidates {unknown} are not in this project")
        gold = [GoldPair(project=project, candidate_id=c, label=label, created_by=admin) for c, label in pairs.items()]
        GoldPair.objects.bulk_create(gold, update_conflicts=True, unique_fields=["candidate"], update_fields=["label"])
        Task.objects.filter(pk__in=set(candidates.values())).update(is_gold=True, open_slots=0)
    return list(GoldPair.objects.filter(candidate_id__in=pairs).order_by("candidate_id"))


def score_gold(assignment: Assignment, labels: dict[int, str]) -> None:
    """Score a gold submission and pause its annotator if accuracy falls too low."""
    known = dict(GoldPair.objects.filter(candidate__task_id=assignment.task_id).values_list("candidate_id", "label"))
    assignment.gold_total = len(known)
    assignment.gold_correct = sum(labels.get(c) == label for c, label in known.items())
    if not known:
        return
    project = assignment.project
    member = ProjectMember.objects.select_for_update().get(project=project, user=assignment.annotator_id)
    member.gold_answered += assignment.gold_total
    member.gold_correct += assignment.gold_correct
    fields = ["gold_answered", "gold_correct"]
    if (
        project.gold_pause_threshold is not None
        and not member.paused
        and member.gold_answered >= project.gold_min_answers
        and member.gold_accuracy < project.gold_pause_threshold
    ):
        member.paused, member.paused_reason = True, "gold"
        fields += ["paused", "paused_reason"]
    member.save(update_fields=fields)


def unscore_gold(assignment: Assignment) -> None:
    """Undo's inverse of score_gold (an automatic pause stays until an admin lifts it)."""
    ProjectMember.objects.filter(project=assignment.project_id, user=assignment.annotator_id).update(
        gold_answered=F("gold_answered") - assignment.gold_total,
        gold_correct=F("gold_correct") - assignment.gold_correct,
    )
