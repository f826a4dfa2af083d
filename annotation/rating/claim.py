"""Handing out tasks under concurrency: the next task, leases, take-overs, gold.

Invariant kept in every transaction here, per regular task:
    open_slots = annotators_per_task + extra_slots - (#leased + #submitted assignments)
(NULL open_slots = untouched task = annotators_per_task). A claim decrements it on a row
it locked with `FOR UPDATE SKIP LOCKED`, so a task never has more annotators than asked;
the unique (task, annotator) constraint means nobody gets a task twice. Expired leases
need no cron: a claim takes one over (the slot passes from the old lease to the new one),
and a late submit on one frees its slot.

Lock order (no deadlocks): member row -> others' expired assignment -> task for claims;
own assignment -> member row -> task for submit/undo/skip (submit.py). Row locks are FOR NO KEY UPDATE,
so the foreign-key checks of inserts (KEY SHARE) never wait for them. A claim that skips
locked rows may still keep a lock on a row it looked at but found full; so claims never wait
for a row lock after taking one: when nothing free was found, the transaction is rolled back
and the claim retried in one where each wait is for one chosen row and every fruitless try
is rolled back to a savepoint (see _claim_patiently).

On SQLite (the demo) `select_for_update` is a no-op and writes are serialised by the
database lock, which is correct for one process.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from ..models import Assignment, Project, ProjectMember, Task
from . import sql
from .exceptions import NotAMember, WorkflowError


# ---------------------------------------------------------------- next


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
                served=F("served") + 1, gold_served=F("gold_served") + int(assignment.gold)
            )
        return assignment


def _live_lease(project_id: int, user) -> Assignment | None:
    row = sql.fetch_one(sql.live_lease(), [project_id, user.pk, Assignment.State.LEASED])
    return None if row is None else sql.instance(Assignment, sql.attnames(Assignment), row)


def _lock_member(project_id: int, user) -> ProjectMember:
    """The caller's membership row, locked, with its project (one statement)."""
    row = sql.fetch_one(sql.lock_member(sql.row_lock("m")), [project_id, user.pk])
    if row is None:
        raise NotAMember()
    member = sql.deferred(
        ProjectMember, {"project_id": project_id, "user_id": user.pk, **dict(zip(sql.MEMBER_FIELDS, row))}
    )
    member.project = sql.deferred(
        Project, {"id": project_id, **dict(zip(sql.PROJECT_FIELDS, row[len(sql.MEMBER_FIELDS) :]))}
    )
    if member.project.state != Project.State.READY:
        raise WorkflowError("project_not_ready", f"project is {member.project.state}, not ready", 409)
    if member.paused:
        raise WorkflowError("member_paused", "an admin or the gold check paused you in this project", 403)
    return member


def _no_fsync_wait() -> None:
    """A lease lost in a crash only means the task is offered again: don't wait for the WAL
    flush on claims (submits stay fully durable)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql.NO_FSYNC_WAIT)


def _wants_gold(project: Project, member: ProjectMember) -> bool:
    """Gold makes up `gold_rate` of what each annotator is served, spread evenly."""
    if project.gold_rate <= 0:
        return False
    return member.gold_served < int(project.gold_rate * (member.served + 1))


def _unseen(user):
    return ~Exists(Assignment.objects.filter(task=OuterRef("pk"), annotator=user))


def _new_lease(project, task_id, user, now, gold=False) -> Assignment:
    return Assignment.objects.create(
        project=project,
        task_id=task_id,
        annotator=user,
        gold=gold,
        leased_at=now,
        leased_until=now + timedelta(seconds=project.lease_seconds),
    )


def _claim_at_once(project, member, user, now) -> Assignment | None:
    until = now + timedelta(seconds=project.lease_seconds)
    row = sql.fetch_one(
        sql.CLAIM_AT_ONCE,
        {
            "project": project.pk,
            "user": user.pk,
            "member": member.pk,
            "now": now,
            "until": until,
            "per_task": project.annotators_per_task,
        },
    )
    if row is None:
        return None
    assignment = Assignment.from_db(
        connection.alias,
        sql.LEASE_FIELDS,
        [row[0], project.pk, row[1], user.pk, Assignment.State.LEASED, False, now, until],
    )
    assignment.project = project
    return assignment


class _NothingClaimed(Exception):
    pass


def _claim_patiently(project, user, now) -> Assignment | None:
    """Claim when a lock-free try found nothing: near the end of the queue a locked row may be
    the only work left, so wait for it. Each try runs in a savepoint that is rolled back when it
    claims nothing, and each wait is for one chosen row: a claim never holds one task or
    assignment row while waiting for another, so claims cannot deadlock each other or submits."""
    return (
        _attempt(_take_over, project, user, now, True)
        or _attempt(_claim_regular, project, user, now, True)
        or _wait_for(_free_tasks(project, user).order_by(*FREE_ORDER), _claim_regular, project, user, now)
        or _wait_for(_stale_leases(project, user, now).order_by("leased_until"), _take_over, project, user, now)
    )


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
    return Task.objects.filter(Q(open_slots__gt=0) | Q(open_slots__isnull=True), project=project).filter(_unseen(user))


def _stale_leases(project, user, now):
    return Assignment.objects.filter(
        project=project, state=Assignment.State.LEASED, gold=False, leased_until__lt=now
    ).exclude(Exists(Assignment.objects.filter(task=OuterRef("task"), annotator=user)))


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
    task_id = (
        Task.objects.filter(project=project, is_gold=True)
        .filter(_unseen(user))
        .order_by("position")
        .values_list("pk", flat=True)
        .first()
    )
    if task_id is None:
        return None
    return _new_lease(project, task_id, user, now, gold=True)
