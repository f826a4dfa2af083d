"""Submit, undo and skip an assignment, and the submission body's validation.

Lock order (as in claim.py, no deadlocks): own assignment -> member row (gold scoring) ->
task. The task row is locked last, by the UPDATE that counts the rating, and consensus is
recomputed under that lock in the same transaction.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..models import Assignment, Label, Project, Rating, Task, TaskCandidate
from ..models.rating import Flag
from . import consensus, gold, sql
from .exceptions import WorkflowError


@dataclass
class Submission:
    labels: dict[int, str]  # candidate id -> label
    flags: list[str]
    seconds: float | None = None


def parse_submission(data) -> Submission:
    """Validate the body's shape; raises WorkflowError with a code (nothing is stored)."""
    if not isinstance(data, dict) or not isinstance(data.get("ratings"), list):
        raise WorkflowError("invalid_body", "expected {'ratings': [{'candidate': id, 'label': ...}, ...]}")
    labels: dict[int, str] = {}
    for entry in data["ratings"]:
        if not isinstance(entry, dict) or "candidate" not in entry or "label" not in entry:
            raise WorkflowError("invalid_body", "each rating needs 'candidate' and 'label'")
        candidate = _candidate_id(entry["candidate"])
        if not isinstance(entry["label"], str) or entry["label"] not in Label.values:
            # reprlib: the message names the label without echoing a megabyte of it
            raise WorkflowError("invalid_label", f"label {reprlib.repr(entry['label'])} is not one of {Label.values}")
        if candidate in labels:
            raise WorkflowError("duplicate_candidate", f"candidate {candidate} is rated twice")
        labels[candidate] = entry["label"]
    flags = data.get("flags") or []
    if not isinstance(flags, list) or any(f not in Flag.values for f in flags):
        raise WorkflowError("invalid_flag", f"flags must be a list of {Flag.values}")
    seconds = data.get("seconds")
    if seconds is not None:
        try:
            seconds = float(seconds)
        except (TypeError, ValueError, OverflowError):
            raise WorkflowError("invalid_seconds", "seconds must be a number")
        if not 0 <= seconds < 86400:
            raise WorkflowError("invalid_seconds", "seconds must be between 0 and 86400")
    return Submission(labels, sorted(set(flags)), seconds)


def _candidate_id(value) -> int:
    """An id as the database can hold it: an integer (or its digits) in 1..2**63-1; `1e999`
    (infinity), 1.5, true and 2**64 are refused here rather than failing in SQL."""
    try:
        integral = not isinstance(value, bool) and not (isinstance(value, float) and not value.is_integer())
        candidate = int(value) if integral else 0
    except (TypeError, ValueError, OverflowError):
        candidate = 0
    if not 0 < candidate < 2**63:
        raise WorkflowError("unknown_candidate", f"candidate {reprlib.repr(value)} is not an id")
    return candidate


def _lock_own(assignment_id: int, user) -> Assignment:
    """The assignment, locked, with its project (one statement)."""
    names = sql.attnames(Assignment)
    row = sql.fetch_one(sql.lock_own(sql.row_lock("a")), [assignment_id])
    if row is None:
        raise WorkflowError("not_found", "no such assignment", 404)
    assignment = sql.instance(Assignment, names, row[: len(names)])
    assignment.project = sql.deferred(
        Project, {"id": assignment.project_id, **dict(zip(sql.PROJECT_FIELDS, row[len(names) :]))}
    )
    if assignment.annotator_id != user.pk:
        raise WorkflowError("not_your_assignment", "this assignment belongs to another annotator", 403)
    return assignment


def stored_labels(assignment: Assignment) -> dict[int, str]:
    return dict(Rating.objects.filter(assignment=assignment).values_list("candidate_id", "label"))


def submit(assignment_id: int, user, submission: Submission) -> Assignment:
    """Store one label per candidate and update the consensus, all in one transaction."""
    expired = False
    with transaction.atomic():
        assignment = _lock_own(assignment_id, user)
        if assignment.state == Assignment.State.SUBMITTED:
            if stored_labels(assignment) == submission.labels and assignment.flags == submission.flags:
                return assignment  # idempotent repeat
            raise WorkflowError(
                "already_submitted_differently", "this assignment was already submitted with other labels", 409
            )
        if assignment.state != Assignment.State.LEASED:
            raise WorkflowError("lease_expired", f"this assignment is {assignment.state}", 409)
        now = timezone.now()
        if assignment.leased_until <= now:
            _expire(assignment)  # free its slot; committed although the submit is refused
            expired = True
        else:
            _store(assignment, submission, now)
    if expired:
        raise WorkflowError("lease_expired", "the lease on this assignment has expired", 409)
    return assignment


def _check_candidates(assignment: Assignment, labels: dict[int, str]) -> None:
    expected = set(TaskCandidate.objects.filter(task_id=assignment.task_id).values_list("pk", flat=True))
    unknown = sorted(set(labels) - expected)
    if unknown:
        raise WorkflowError("unknown_candidate", f"candidates {unknown} are not part of this task")
    missing = sorted(expected - set(labels))
    if missing:
        raise WorkflowError("missing_candidate", f"candidates {missing} have no label")


def _insert_ratings(assignment: Assignment, labels: dict[int, str]) -> None:
    """Store one rating per label in one statement, which inserts nothing unless the labels name
    exactly the task's candidates; if it did not insert them all, _check_candidates says what is
    wrong and the caller's transaction rolls back what was inserted."""
    inserted = 0
    if labels:
        ids = list(labels)
        params = [
            assignment.pk,
            *(v for pair in labels.items() for v in pair),
            assignment.task_id,
            *ids,
            assignment.task_id,
            len(ids),
        ]
        with sql.hot_cursor() as cursor:
            cursor.execute(sql.insert_ratings(len(ids)), params)
            inserted = cursor.rowcount
    if not labels or inserted != len(labels):
        _check_candidates(assignment, labels)


def _count_rating(task_id: int, delta: int) -> Task:
    """Add delta to the task's rating_count; the UPDATE locks the row (after the assignment and
    member rows) and returns what consensus needs, so the task is not read separately."""
    row = sql.fetch_one(sql.COUNT_RATING, [delta, task_id])
    return Task.from_db(connection.alias, sql.COUNTED_FIELDS, row)


def _store(assignment: Assignment, submission: Submission, now) -> None:
    project = assignment.project
    _insert_ratings(assignment, submission.labels)
    if assignment.gold:
        gold.score_gold(assignment, submission.labels)  # locks the member row (before the task)
    task = _count_rating(assignment.task_id, +1)
    assignment.state = Assignment.State.SUBMITTED
    assignment.submitted_at = now
    assignment.flags = submission.flags
    assignment.seconds = submission.seconds
    _save_submitted(assignment)
    if not task.is_gold and task.rating_count >= consensus.needed(project, task):
        consensus.update_task(project, task)  # incomplete tasks have no results to touch


def _save_submitted(assignment: Assignment) -> None:
    """save(update_fields=...) as one statement that PostgreSQL may prepare: building the UPDATE
    through the ORM cost more Python time than any other statement of the submit."""
    flags = Assignment._meta.get_field("flags").get_db_prep_save(assignment.flags, connection)
    submitted_at = connection.ops.adapt_datetimefield_value(assignment.submitted_at)
    with sql.hot_cursor() as cursor:
        cursor.execute(
            sql.SAVE_SUBMITTED,
            [
                assignment.state,
                submitted_at,
                flags,
                assignment.seconds,
                assignment.gold_total,
                assignment.gold_correct,
                assignment.pk,
            ],
        )


def _expire(assignment: Assignment) -> None:
    assignment.state = Assignment.State.EXPIRED
    assignment.save(update_fields=["state"])
    if not assignment.gold:
        Task.objects.filter(pk=assignment.task_id).update(open_slots=F("open_slots") + 1)


# ---------------------------------------------------------------- undo and skip


def undo(assignment_id: int, user) -> Assignment:
    """Reopen the caller's most recent submission in its project while its lease is live."""
    with transaction.atomic():
        assignment = _lock_own(assignment_id, user)
        if assignment.state != Assignment.State.SUBMITTED:
            raise WorkflowError("not_submitted", "only a submitted assignment can be undone", 409)
        if assignment.leased_until <= timezone.now():
            raise WorkflowError("lease_expired", "the lease on this assignment has expired", 409)
        last = (
            Assignment.objects.filter(project=assignment.project_id, annotator=user, state=Assignment.State.SUBMITTED)
            .order_by("-submitted_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if last != assignment.pk:
            raise WorkflowError("not_last_submission", "only your last submission can be undone", 409)
        if assignment.gold:
            gold.unscore_gold(assignment)
        task = _count_rating(assignment.task_id, -1)
        Rating.objects.filter(assignment=assignment).delete()
        assignment.state = Assignment.State.LEASED
        assignment.submitted_at = None
        assignment.gold_total = assignment.gold_correct = 0
        assignment.save(update_fields=["state", "submitted_at", "gold_total", "gold_correct"])
        if not task.is_gold:
            consensus.update_task(assignment.project, task)
    return assignment


def skip(assignment_id: int, user) -> Assignment:
    """Give a leased task back: its slot goes to someone else; the caller never sees it again."""
    with transaction.atomic():
        assignment = _lock_own(assignment_id, user)
        if assignment.state == Assignment.State.SKIPPED:
            return assignment
        if assignment.state != Assignment.State.LEASED:
            raise WorkflowError("not_leased", f"this assignment is {assignment.state}", 409)
        assignment.state = Assignment.State.SKIPPED
        assignment.save(update_fields=["state"])
        if not assignment.gold:
            Task.objects.filter(pk=assignment.task_id).update(open_slots=F("open_slots") + 1)
    return assignment
