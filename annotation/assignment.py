"""Handing out tasks under concurrency: leases, submit, undo, skip.

Invariant kept in every transaction here, per regular task:
    open_slots = annotators_per_task + extra_slots - (#leased + #submitted assignments)
(NULL open_slots = untouched task = annotators_per_task). A claim decrements it on a row
it locked with `FOR UPDATE SKIP LOCKED`, so a task never has more annotators than asked;
the unique (task, annotator) constraint means nobody gets a task twice. Expired leases
need no cron: a claim takes one over (the slot passes from the old lease to the new one),
and a late submit on one frees its slot.

Lock order (no deadlocks): member row -> others' expired assignment -> task for claims;
own assignment -> member row -> task for submit/undo/skip.

On SQLite (the demo) `select_for_update` is a no-op and writes are serialised by the
database lock, which is correct for one process.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from . import consensus, quality
from .models import Assignment, Label, Project, ProjectMember, Rating, Task, TaskCandidate
from .models.rating import Flag


class WorkflowError(Exception):
    """A refusal with a stable machine-readable `code` and an HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


# ---------------------------------------------------------------- next


def next_assignment(project: Project, user) -> Assignment | None:
    """The caller's live lease, else a newly claimed task; None when nothing is left for them."""
    if project.state != Project.State.READY:
        raise WorkflowError("project_not_ready", f"project is {project.state}, not ready", 409)
    now = timezone.now()
    with transaction.atomic():
        _no_fsync_wait()
        member = (ProjectMember.objects.select_for_update()
                  .filter(project=project, user=user).first())  # serialises this annotator's calls
        if member is None:
            raise WorkflowError("not_a_member", "you are not an annotator of this project", 403)
        if member.paused:
            raise WorkflowError("member_paused", "an admin or the gold check paused you in this project", 403)
        held = (Assignment.objects.filter(project=project, annotator=user, state=Assignment.State.LEASED)
                .order_by("leased_until").first())
        if held is not None:
            if held.leased_until <= now:  # not taken over by anyone: keep it, renew the lease
                held.leased_until = now + timedelta(seconds=project.lease_seconds)
                held.save(update_fields=["leased_until"])
            return held
        assignment = None
        if _wants_gold(project, member):
            assignment = _claim_gold(project, user, now)
        if assignment is None:
            assignment = (_take_over(project, user, now, skip_locked=True)
                          or _claim_regular(project, user, now, skip_locked=True)
                          # Near the end of the queue a skipped row may be the only work left: wait for it.
                          or _claim_regular(project, user, now, skip_locked=False)
                          or _take_over(project, user, now, skip_locked=False))
        if assignment is not None:
            ProjectMember.objects.filter(pk=member.pk).update(
                served=F("served") + 1, gold_served=F("gold_served") + int(assignment.gold))
        return assignment


def _no_fsync_wait() -> None:
    """A lease lost in a crash only means the task is offered again: don't wait for the WAL
    flush on claims (submits stay fully durable)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _wants_gold(project: Project, member: ProjectMember) -> bool:
    """Gold makes up `gold_rate` of what each annotator is served, spread evenly."""
    if project.gold_rate <= 0:
        return False
    return member.gold_served < int(project.gold_rate * (member.served + 1))


def _unseen(user):
    return ~Exists(Assignment.objects.filter(task=OuterRef("pk"), annotator=user))


def _new_lease(project, task_id, user, now, gold=False) -> Assignment:
    return Assignment.objects.create(
        project=project, task_id=task_id, annotator=user, gold=gold, leased_at=now,
        leased_until=now + timedelta(seconds=project.lease_seconds))


def _claim_regular(project, user, now, skip_locked: bool) -> Assignment | None:
    row = (Task.objects.select_for_update(skip_locked=skip_locked, of=("self",))
           .filter(Q(open_slots__gt=0) | Q(open_slots__isnull=True), project=project)
           .filter(_unseen(user))
           .order_by(F("open_slots").asc(nulls_last=True), "position")
           .values_list("pk", "open_slots")[:1])
    row = list(row)
    if not row:
        return None
    task_id, open_slots = row[0]
    left = (project.annotators_per_task if open_slots is None else open_slots) - 1
    Task.objects.filter(pk=task_id).update(open_slots=left)
    return _new_lease(project, task_id, user, now)


def _take_over(project, user, now, skip_locked: bool) -> Assignment | None:
    """Take another annotator's expired lease: its slot becomes ours, counts unchanged."""
    stale = list(Assignment.objects.select_for_update(skip_locked=skip_locked, of=("self",))
                 .filter(project=project, state=Assignment.State.LEASED, gold=False, leased_until__lt=now)
                 .exclude(Exists(Assignment.objects.filter(task=OuterRef("task"), annotator=user)))
                 .order_by("leased_until").values_list("pk", "task_id")[:1])
    if not stale:
        return None
    stale_id, task_id = stale[0]
    Assignment.objects.filter(pk=stale_id).update(state=Assignment.State.EXPIRED)
    return _new_lease(project, task_id, user, now)


def _claim_gold(project, user, now) -> Assignment | None:
    """Gold tasks have no slot limit: each annotator answers each one once."""
    task_id = (Task.objects.filter(project=project, is_gold=True).filter(_unseen(user))
               .order_by("position").values_list("pk", flat=True).first())
    if task_id is None:
        return None
    return _new_lease(project, task_id, user, now, gold=True)


# ---------------------------------------------------------------- submit


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
        try:
            candidate = int(entry["candidate"])
        except (TypeError, ValueError):
            raise WorkflowError("unknown_candidate", f"candidate {entry['candidate']!r} is not an id")
        if entry["label"] not in Label.values:
            raise WorkflowError("invalid_label", f"label {entry['label']!r} is not one of {Label.values}")
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
        except (TypeError, ValueError):
            raise WorkflowError("invalid_seconds", "seconds must be a number")
        if not 0 <= seconds < 86400:
            raise WorkflowError("invalid_seconds", "seconds must be between 0 and 86400")
    return Submission(labels, sorted(set(flags)), seconds)


def _lock_own(assignment_id: int, user) -> Assignment:
    assignment = (Assignment.objects.select_for_update(of=("self",)).select_related("project")
                  .filter(pk=assignment_id).first())
    if assignment is None:
        raise WorkflowError("not_found", "no such assignment", 404)
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
            raise WorkflowError("already_submitted_differently",
                                "this assignment was already submitted with other labels", 409)
        if assignment.state != Assignment.State.LEASED:
            raise WorkflowError("lease_expired", f"this assignment is {assignment.state}", 409)
        now = timezone.now()
        if assignment.leased_until <= now:
            _expire(assignment)  # free its slot; committed although the submit is refused
            expired = True
        else:
            _check_candidates(assignment, submission)
            _store(assignment, submission, now)
    if expired:
        raise WorkflowError("lease_expired", "the lease on this assignment has expired", 409)
    return assignment


def _check_candidates(assignment: Assignment, submission: Submission) -> None:
    expected = set(TaskCandidate.objects.filter(task_id=assignment.task_id).values_list("pk", flat=True))
    unknown = sorted(set(submission.labels) - expected)
    if unknown:
        raise WorkflowError("unknown_candidate", f"candidates {unknown} are not part of this task")
    missing = sorted(expected - set(submission.labels))
    if missing:
        raise WorkflowError("missing_candidate", f"candidates {missing} have no label")


def _store(assignment: Assignment, submission: Submission, now) -> None:
    project = assignment.project
    Rating.objects.bulk_create([Rating(assignment=assignment, candidate_id=c, label=label)
                                for c, label in submission.labels.items()])
    if assignment.gold:
        quality.score_gold(assignment, submission.labels)  # locks the member row (before the task)
    task = Task.objects.select_for_update(of=("self",)).select_related("caption").get(pk=assignment.task_id)
    task.rating_count += 1
    Task.objects.filter(pk=task.pk).update(rating_count=task.rating_count)
    assignment.state = Assignment.State.SUBMITTED
    assignment.submitted_at = now
    assignment.flags = submission.flags
    assignment.seconds = submission.seconds
    assignment.save(update_fields=["state", "submitted_at", "flags", "seconds", "gold_total", "gold_correct"])
    if not task.is_gold and task.rating_count >= consensus.needed(project, task):
        consensus.update_task(project, task)  # incomplete tasks have no results to touch


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
        last = (Assignment.objects.filter(project=assignment.project_id, annotator=user,
                                          state=Assignment.State.SUBMITTED)
                .order_by("-submitted_at", "-pk").values_list("pk", flat=True).first())
        if last != assignment.pk:
            raise WorkflowError("not_last_submission", "only your last submission can be undone", 409)
        if assignment.gold:
            quality.unscore_gold(assignment)
        task = (Task.objects.select_for_update(of=("self",)).select_related("caption")
                .get(pk=assignment.task_id))
        Rating.objects.filter(assignment=assignment).delete()
        task.rating_count -= 1
        Task.objects.filter(pk=task.pk).update(rating_count=task.rating_count)
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
