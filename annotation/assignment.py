"""Handing out tasks under concurrency: leases, submit, undo, skip.

Invariant kept in every transaction here, per regular task:
    open_slots = annotators_per_task + extra_slots - (#leased + #submitted assignments)
(NULL open_slots = untouched task = annotators_per_task). A claim decrements it on a row
it locked with `FOR UPDATE SKIP LOCKED`, so a task never has more annotators than asked;
the unique (task, annotator) constraint means nobody gets a task twice. Expired leases
need no cron: a claim takes one over (the slot passes from the old lease to the new one),
and a late submit on one frees its slot.

Lock order (no deadlocks): member row -> others' expired assignment -> task for claims;
own assignment -> member row -> task for submit/undo/skip. Row locks are FOR NO KEY UPDATE,
so the foreign-key checks of inserts (KEY SHARE) never wait for them. A claim that skips
locked rows may still keep a lock on a row it looked at but found full; so claims never wait
for a row lock after taking one: when nothing free was found, the transaction is rolled back
and the claim retried in one where each wait is for one chosen row and every fruitless try
is rolled back to a savepoint (see _claim_patiently).

On SQLite (the demo) `select_for_update` is a no-op and writes are serialised by the
database lock, which is correct for one process.
"""
from __future__ import annotations

import reprlib
from dataclasses import dataclass
from functools import cache
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from . import consensus, quality
from .hot_sql import attnames, fetch_one, hot_cursor, instance, select_list
from .models import Assignment, Label, Project, ProjectMember, Rating, Task, TaskCandidate
from .models.rating import Flag


class WorkflowError(Exception):
    """A refusal with a stable machine-readable `code` and an HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def _lock_of(alias: str) -> str:
    """Row lock clause for raw SQL; SQLite has none (its writes are serialised)."""
    return f" FOR NO KEY UPDATE OF {alias}" if connection.features.has_select_for_no_key_update else ""


def _deferred(model, values: dict):
    """An instance from some of its columns; the others load on access, as with .only()."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


# ---------------------------------------------------------------- next


class NotAMember(WorkflowError):
    """The caller has no membership row; the view decides between 404, 409 and this 403."""

    def __init__(self):
        super().__init__("not_a_member", "you are not an annotator of this project", 403)


class _MustWait(Exception):
    """The claim that never waits found nothing free: retry in a transaction that may wait."""


def next_assignment(project: Project | int, user) -> Assignment | None:
    """The caller's live lease, else a newly claimed task; None when nothing is left for them.

    `project` is a Project or its id. On PostgreSQL the first transaction never waits for a
    row lock once it holds one (the hot path: one claim statement); only when that finds no
    free row does a second transaction wait, each wait holding no task or assignment lock.
    """
    project_id = project.pk if isinstance(project, Project) else project
    if connection.vendor == "postgresql":
        try:
            return _next(project_id, user, patient=False)
        except _MustWait:
            pass  # its transaction is rolled back: no row lock it took is kept while we wait
    return _next(project_id, user, patient=True)


def _next(project_id: int, user, patient: bool) -> Assignment | None:
    now = timezone.now()
    with transaction.atomic():
        member = _lock_member(project_id, user)  # serialises this annotator's calls
        project = member.project
        held = _live_lease(project_id, user)
        if held is not None:
            if held.leased_until <= now:  # not taken over by anyone: keep it, renew the lease
                _no_fsync_wait()
                held.leased_until = now + timedelta(seconds=project.lease_seconds)
                held.save(update_fields=["leased_until"])
            held.project = project  # the payload reads the project's instructions
            return held
        assignment = None
        if _wants_gold(project, member):
            _no_fsync_wait()
            assignment = _claim_gold(project, user, now)
        if assignment is None and not patient:
            assignment = _claim_at_once(project, member, user, now)  # also counts it as served
            if assignment is None:
                raise _MustWait
            return assignment
        if assignment is None:
            _no_fsync_wait()
            assignment = _claim_patiently(project, user, now)
        if assignment is not None:
            ProjectMember.objects.filter(pk=member.pk).update(
                served=F("served") + 1, gold_served=F("gold_served") + int(assignment.gold))
        return assignment


def _live_lease(project_id: int, user) -> Assignment | None:
    row = fetch_one(_live_lease_sql(), [project_id, user.pk, Assignment.State.LEASED])
    return None if row is None else instance(Assignment, attnames(Assignment), row)


@cache
def _live_lease_sql() -> str:
    return (f"SELECT {select_list(Assignment, 'a')} FROM annotation_assignment a "
            f"WHERE a.project_id = %s AND a.annotator_id = %s AND a.state = %s ORDER BY a.leased_until LIMIT 1")


# The project columns the workflow reads; the rest load on access, as with .only(). Building
# these queries with the ORM (select_related on a wide row) cost more CPU than running them.
PROJECT_FIELDS = ["instructions", "state", "annotators_per_task", "consensus_rule", "contested_route",
                  "max_extra_annotators", "lease_seconds", "gold_rate", "gold_pause_threshold", "gold_min_answers"]
MEMBER_FIELDS = ["id", "paused", "served", "gold_served"]


def _lock_member(project_id: int, user) -> ProjectMember:
    """The caller's membership row, locked, with its project (one statement)."""
    row = fetch_one(_lock_member_sql(_lock_of("m")), [project_id, user.pk])
    if row is None:
        raise NotAMember()
    member = _deferred(ProjectMember, {"project_id": project_id, "user_id": user.pk,
                                       **dict(zip(MEMBER_FIELDS, row))})
    member.project = _deferred(Project, {"id": project_id, **dict(zip(PROJECT_FIELDS, row[len(MEMBER_FIELDS):]))})
    if member.project.state != Project.State.READY:
        raise WorkflowError("project_not_ready", f"project is {member.project.state}, not ready", 409)
    if member.paused:
        raise WorkflowError("member_paused", "an admin or the gold check paused you in this project", 403)
    return member


@cache
def _lock_member_sql(lock: str) -> str:
    columns = ", ".join([f"m.{name}" for name in MEMBER_FIELDS] + [f"p.{name}" for name in PROJECT_FIELDS])
    return (f"SELECT {columns} FROM annotation_projectmember m JOIN annotation_project p ON p.id = m.project_id "
            f"WHERE m.project_id = %s AND m.user_id = %s{lock}")


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


# PostgreSQL: take over an expired lease, else claim a free slot, in one statement that skips
# locked rows and so never waits. Same queries and order as _take_over and _claim_regular with
# skip_locked=True; it also counts the lease as served and skips the WAL flush wait.
CLAIM_AT_ONCE = """
WITH stale AS (
    SELECT s.id, s.task_id FROM annotation_assignment s
    WHERE s.project_id = %(project)s AND s.state = 'leased' AND NOT s.gold AND s.leased_until < %(now)s
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment o WHERE o.task_id = s.task_id AND o.annotator_id = %(user)s)
    ORDER BY s.leased_until LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
), expired AS (
    UPDATE annotation_assignment a SET state = 'expired' FROM stale WHERE a.id = stale.id RETURNING stale.task_id
), free AS (
    SELECT t.id FROM annotation_task t
    WHERE t.project_id = %(project)s AND (t.open_slots > 0 OR t.open_slots IS NULL)
      AND NOT EXISTS (SELECT 1 FROM stale)
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment o WHERE o.task_id = t.id AND o.annotator_id = %(user)s)
    ORDER BY t.open_slots ASC NULLS LAST, t.position LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
), taken AS (
    UPDATE annotation_task t SET open_slots = COALESCE(t.open_slots, %(per_task)s) - 1
    FROM free WHERE t.id = free.id RETURNING t.id AS task_id
), lease AS (
    INSERT INTO annotation_assignment (project_id, task_id, annotator_id, state, gold, leased_at, leased_until,
                                       flags, gold_total, gold_correct)
    SELECT %(project)s, task_id, %(user)s, 'leased', false, %(now)s, %(until)s, '[]', 0, 0
    FROM (SELECT task_id FROM expired UNION ALL SELECT task_id FROM taken) claimed
    RETURNING id, task_id
), served AS (
    UPDATE annotation_projectmember SET served = served + 1 WHERE id = %(member)s AND EXISTS (SELECT 1 FROM lease)
)
SELECT id, task_id, set_config('synchronous_commit', 'off', true) FROM lease
"""

LEASE_FIELDS = ["id", "project_id", "task_id", "annotator_id", "state", "gold", "leased_at", "leased_until"]


def _claim_at_once(project, member, user, now) -> Assignment | None:
    until = now + timedelta(seconds=project.lease_seconds)
    row = fetch_one(CLAIM_AT_ONCE, {"project": project.pk, "user": user.pk, "member": member.pk, "now": now,
                                    "until": until, "per_task": project.annotators_per_task})
    if row is None:
        return None
    assignment = Assignment.from_db(connection.alias, LEASE_FIELDS, [
        row[0], project.pk, row[1], user.pk, Assignment.State.LEASED, False, now, until])
    assignment.project = project
    return assignment


class _NothingClaimed(Exception):
    pass


def _claim_patiently(project, user, now) -> Assignment | None:
    """Claim when a lock-free try found nothing: near the end of the queue a locked row may be
    the only work left, so wait for it. Each try runs in a savepoint that is rolled back when it
    claims nothing, and each wait is for one chosen row: a claim never holds one task or
    assignment row while waiting for another, so claims cannot deadlock each other or submits."""
    return (_attempt(_take_over, project, user, now, True)
            or _attempt(_claim_regular, project, user, now, True)
            or _wait_for(_free_tasks(project, user).order_by(*FREE_ORDER), _claim_regular, project, user, now)
            or _wait_for(_stale_leases(project, user, now).order_by("leased_until"), _take_over, project, user, now))


def _attempt(claim, project, user, now, skip_locked, pick=None) -> Assignment | None:
    try:
        with transaction.atomic():
            assignment = claim(project, user, now, skip_locked, pick)
            if assignment is None:
                raise _NothingClaimed  # roll back: release any row it locked but did not claim
            return assignment
    except _NothingClaimed:
        return None


def _wait_for(candidates, claim, project, user, now) -> Assignment | None:
    """Pick the best candidate without locking, wait for that row alone, recheck; repeat."""
    while (pick := candidates.values_list("pk", flat=True).first()) is not None:
        assignment = _attempt(claim, project, user, now, False, pick)
        if assignment is not None:
            return assignment
    return None


FREE_ORDER = (F("open_slots").asc(nulls_last=True), "position")


def _free_tasks(project, user):
    return (Task.objects.filter(Q(open_slots__gt=0) | Q(open_slots__isnull=True), project=project)
            .filter(_unseen(user)))


def _stale_leases(project, user, now):
    return (Assignment.objects.filter(project=project, state=Assignment.State.LEASED, gold=False, leased_until__lt=now)
            .exclude(Exists(Assignment.objects.filter(task=OuterRef("task"), annotator=user))))


def _claim_regular(project, user, now, skip_locked: bool, pick=None) -> Assignment | None:
    rows = _free_tasks(project, user).select_for_update(skip_locked=skip_locked, no_key=True, of=("self",))
    if pick is not None:
        rows = rows.filter(pk=pick)
    row = list(rows.order_by(*FREE_ORDER).values_list("pk", "open_slots")[:1])
    if not row:
        return None
    task_id, open_slots = row[0]
    left = (project.annotators_per_task if open_slots is None else open_slots) - 1
    Task.objects.filter(pk=task_id).update(open_slots=left)
    return _new_lease(project, task_id, user, now)


def _take_over(project, user, now, skip_locked: bool, pick=None) -> Assignment | None:
    """Take another annotator's expired lease: its slot becomes ours, counts unchanged."""
    rows = _stale_leases(project, user, now).select_for_update(skip_locked=skip_locked, no_key=True, of=("self",))
    if pick is not None:
        rows = rows.filter(pk=pick)
    stale = list(rows.order_by("leased_until").values_list("pk", "task_id")[:1])
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
    names = attnames(Assignment)
    row = fetch_one(_lock_own_sql(_lock_of("a")), [assignment_id])
    if row is None:
        raise WorkflowError("not_found", "no such assignment", 404)
    assignment = instance(Assignment, names, row[:len(names)])
    assignment.project = _deferred(Project, {"id": assignment.project_id,
                                             **dict(zip(PROJECT_FIELDS, row[len(names):]))})
    if assignment.annotator_id != user.pk:
        raise WorkflowError("not_your_assignment", "this assignment belongs to another annotator", 403)
    return assignment


@cache
def _lock_own_sql(lock: str) -> str:
    return (f"SELECT {select_list(Assignment, 'a')}, {', '.join(f'p.{name}' for name in PROJECT_FIELDS)} "
            f"FROM annotation_assignment a JOIN annotation_project p ON p.id = a.project_id WHERE a.id = %s{lock}")


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
        cases = " ".join(["WHEN %s THEN %s"] * len(ids))
        sql = (f"INSERT INTO annotation_rating (assignment_id, candidate_id, label) "
               f"SELECT %s, id, CASE id {cases} END FROM annotation_taskcandidate "
               f"WHERE task_id = %s AND id IN ({', '.join(['%s'] * len(ids))}) "
               f"AND (SELECT COUNT(*) FROM annotation_taskcandidate WHERE task_id = %s) = %s")
        params = [assignment.pk, *(v for pair in labels.items() for v in pair), assignment.task_id, *ids,
                  assignment.task_id, len(ids)]
        with hot_cursor() as cursor:
            cursor.execute(sql, params)
            inserted = cursor.rowcount
    if not labels or inserted != len(labels):
        _check_candidates(assignment, labels)


def _count_rating(task_id: int, delta: int) -> Task:
    """Add delta to the task's rating_count; the UPDATE locks the row (after the assignment and
    member rows) and returns what consensus needs, so the task is not read separately."""
    fields = ["id", "caption_id", "open_slots", "extra_slots", "rating_count", "is_gold"]
    row = fetch_one(f"UPDATE annotation_task SET rating_count = rating_count + %s WHERE id = %s "
                    f"RETURNING {', '.join(fields)}", [delta, task_id])
    return Task.from_db(connection.alias, fields, row)


def _store(assignment: Assignment, submission: Submission, now) -> None:
    project = assignment.project
    _insert_ratings(assignment, submission.labels)
    if assignment.gold:
        quality.score_gold(assignment, submission.labels)  # locks the member row (before the task)
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
    with hot_cursor() as cursor:
        cursor.execute("UPDATE annotation_assignment SET state = %s, submitted_at = %s, flags = %s, seconds = %s, "
                       "gold_total = %s, gold_correct = %s WHERE id = %s",
                       [assignment.state, submitted_at, flags, assignment.seconds,
                        assignment.gold_total, assignment.gold_correct, assignment.pk])


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
