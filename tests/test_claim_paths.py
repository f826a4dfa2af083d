"""On PostgreSQL a claim is one SQL statement (annotation/rating/sql.py CLAIM_AT_ONCE); SQLite, and
PostgreSQL when that statement finds nothing free, claims with ORM queries
(_claim_patiently). Both must hand out the same tasks in the same order, as
tests/export/test_sql_lines.py pins the two export paths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.rating import claim as claims
from annotation.models import Assignment, ProjectMember, Task
from tests.annotation.workflow_setup import annotators, join, make_project  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


class _Undo(Exception):
    """Raised to roll the claims back, so the second path starts from the same rows."""


def sql_claim(project_id, user):
    try:
        return claims._next(project_id, user, patient=False)
    except claims._MustWait:
        return None  # nothing free for the lock-free statement


def orm_claim(project_id, user):
    return claims._next(project_id, user, patient=True)


def run_claims(project, users, claim) -> tuple[list, dict]:
    """Claim in turns; each lease is submitted at once (so the next call claims anew), except
    every third, which is left to expire and be taken over. Returns the claims in order and
    the rows they changed; everything is rolled back afterwards."""
    sequence, snapshot = [], {}
    try:
        with transaction.atomic():
            for turn in range(24):
                user = users[turn % len(users)]
                lease = claim(project.pk, user)
                if lease is None:
                    sequence.append((user.username, None))
                    continue
                took_over = Assignment.objects.filter(task_id=lease.task_id, state="expired").exists()
                sequence.append((user.username, Task.objects.get(pk=lease.task_id).position, took_over))
                if turn % 3 == 2:  # abandoned: expired an hour ago, in a distinct order
                    Assignment.objects.filter(pk=lease.pk).update(
                        leased_until=timezone.now() - timedelta(hours=1, minutes=turn)
                    )
                else:
                    Assignment.objects.filter(pk=lease.pk).update(state="submitted")
            snapshot = {
                "slots": list(
                    Task.objects.filter(project=project).order_by("position").values_list("position", "open_slots")
                ),
                "assignments": sorted(
                    Assignment.objects.filter(project=project).values_list(
                        "task__position", "annotator__username", "state"
                    )
                ),
                "served": list(
                    ProjectMember.objects.filter(project=project)
                    .order_by("user__username")
                    .values_list("user__username", "served")
                ),
            }
            raise _Undo
    except _Undo:
        pass
    return sequence, snapshot


def test_sql_and_orm_claims_pick_the_same_tasks_in_the_same_order(annotators):  # noqa: F811
    project = make_project(n_tasks=8, per_task=2, lease_seconds=600, name="claims")
    users, other = annotators[:3], annotators[5]
    join(project, *users, other)
    tasks = list(Task.objects.filter(project=project).order_by("position"))
    # Mixed slot counts: untouched (NULL), partly and fully served; ties broken by position.
    for task, slots in zip(tasks, [None, 1, None, 0, 1, None, 2, None]):
        Task.objects.filter(pk=task.pk).update(open_slots=slots)
    now = timezone.now()
    # Another annotator's leases: two expired (taken over oldest first), one live (left alone).
    for task, age in ((tasks[5], 30), (tasks[2], 90), (tasks[7], -30)):
        Assignment.objects.create(
            project=project,
            task=task,
            annotator=other,
            leased_at=now - timedelta(hours=3),
            leased_until=now - timedelta(minutes=age),
        )
    # Already rated by users[0]: never offered to them again.
    Assignment.objects.create(
        project=project, task=tasks[0], annotator=users[0], state="submitted", leased_at=now, leased_until=now
    )

    sql_sequence, sql_rows = run_claims(project, users, sql_claim)
    orm_sequence, orm_rows = run_claims(project, users, orm_claim)

    assert sql_sequence == orm_sequence
    assert sql_rows == orm_rows
    # The data exercise every branch: take-overs, fresh claims, and a queue that runs dry.
    claimed = [entry for entry in sql_sequence if entry[1] is not None]
    assert any(entry[2] for entry in claimed) and not all(entry[2] for entry in claimed)
    assert any(entry[1] is None for entry in sql_sequence)
    assert ("ann0", 0, False) not in claimed
