"""Races on real PostgreSQL: 50 annotators draining a 3-annotators-per-task project at once; annotators
who rate past their lease while others take their tasks over."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Assignment, PairResult, Rating, Task
from tests.annotation.workflow_setup import join, make_project, make_user, next_task, rate_all

N_ANNOTATORS, N_TASKS, CANDIDATES = 50, 60, 3


def run_threads(target, args_list):
    errors: list[BaseException] = []

    def wrapped(*args):
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)


def work_left_for(project, user) -> int:
    """Tasks with a free slot that this annotator has never had."""
    return (
        Task.objects.filter(project=project, is_gold=False)
        .exclude(open_slots=0)
        .exclude(assignments__annotator=user)
        .count()
    )


@pytest.mark.django_db(transaction=True)
def test_fifty_annotators_drain_a_project():
    project = make_project(
        n_tasks=N_TASKS, candidates=CANDIDATES, per_task=3, consensus_rule="majority", contested_route="exclude"
    )
    users = [make_user(f"a{i}") for i in range(N_ANNOTATORS)]
    join(project, *users)
    submitted: dict[int, list[int]] = {}
    wrong_204: list[tuple[str, int]] = []
    start = threading.Barrier(N_ANNOTATORS)

    def annotate(user, seed):
        client = APIClient()
        client.force_authenticate(user)
        rng = random.Random(seed)
        mine = submitted.setdefault(user.pk, [])
        start.wait()
        while True:
            response = next_task(client, project)
            if response.status_code == 204:
                if left := work_left_for(project, user):
                    wrong_204.append((user.username, left))
                return
            assert response.status_code == 200, response.content
            payload = response.json()
            labels = [rng.choice(["good", "partial", "bad"]) for _ in payload["candidates"]]
            result = rate_all(client, payload, labels)
            assert result.status_code == 200, result.content
            mine.append(payload["id"])

    run_threads(annotate, [(u, i) for i, u in enumerate(users)])

    assert wrong_204 == []
    per_task = (
        Assignment.objects.filter(state="submitted")
        .values("task")
        .annotate(n=Count("pk"), people=Count("annotator", distinct=True))
    )
    assert len(per_task) == N_TASKS
    assert {(row["n"], row["people"]) for row in per_task} == {(3, 3)}
    assert not Assignment.objects.exclude(state="submitted").exists()
    assert sorted(a for ids in submitted.values() for a in ids) == sorted(
        Assignment.objects.values_list("pk", flat=True)
    )
    assert Rating.objects.count() == N_TASKS * 3 * CANDIDATES
    assert set(Task.objects.values_list("open_slots", "rating_count")) == {(0, 3)}
    assert PairResult.objects.count() == N_TASKS * CANDIDATES
    for result in PairResult.objects.all():
        assert sum(result.votes.values()) == 3


@pytest.mark.django_db(transaction=True)
def test_one_annotator_calling_next_twice_at_once_gets_one_lease():
    project = make_project(n_tasks=5, per_task=3)
    user = make_user("twice")
    join(project, user)
    ids: list[int] = []

    def call():
        client = APIClient()
        client.force_authenticate(user)
        ids.append(next_task(client, project).json()["id"])

    run_threads(call, [()] * 4)
    assert len(set(ids)) == 1 and Assignment.objects.count() == 1


LEASE_SECONDS, LATE_SHARE = 2, 0.25


class Outcomes:
    """What the annotator threads saw: accepted labels per assignment, and every late submit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted: dict[int, dict[int, str]] = {}
        self.late: list[tuple] = []  # (assignment, status, code, detail, whether its lease had run out)

    def record(self, payload, labels, sent_at, response):
        expires = datetime.fromisoformat(payload["lease_expires"])
        with self.lock:
            if response.status_code == 200:
                assert sent_at < expires, "a submit sent after its lease ran out was accepted"
                self.accepted[payload["id"]] = dict(zip([c["id"] for c in payload["candidates"]], labels))
            else:
                body = response.json()
                self.late.append(
                    (
                        payload["id"],
                        response.status_code,
                        body.get("code"),
                        body.get("detail"),
                        expires <= timezone.now(),
                    )
                )


def project_done(project) -> bool:
    return not Task.objects.filter(project=project, rating_count__lt=3).exists()


@pytest.mark.django_db(transaction=True)
def test_expired_leases_and_late_submits_lose_and_duplicate_nothing():
    """Some annotators rate past their lease: the task goes to someone else (a take-over) or the
    late submit frees it; either way that submit is refused and every task still ends with three
    ratings from three different annotators, each exactly as the client sent it."""
    n_annotators, n_tasks, candidates = 16, 24, 2
    project = make_project(
        n_tasks=n_tasks,
        candidates=candidates,
        per_task=3,
        consensus_rule="majority",
        contested_route="exclude",
        lease_seconds=LEASE_SECONDS,
    )
    users = [make_user(f"late{i}") for i in range(n_annotators)]
    join(project, *users)
    outcomes = Outcomes()
    start = threading.Barrier(n_annotators)
    deadline = time.monotonic() + 120

    def annotate(user, seed):
        client = APIClient()
        client.force_authenticate(user)
        rng = random.Random(seed)
        start.wait()
        while not project_done(project) and time.monotonic() < deadline:
            response = next_task(client, project)
            if response.status_code == 204:  # the rest is leased to others: wait for leases to lapse
                time.sleep(0.1)
                continue
            assert response.status_code == 200, response.content
            payload = response.json()
            labels = [rng.choice(["good", "partial", "bad"]) for _ in payload["candidates"]]
            if rng.random() < LATE_SHARE:  # rate until just past the lease, or until it is likely taken over
                expires = datetime.fromisoformat(payload["lease_expires"])
                overdue = rng.choice([rng.uniform(0.01, 0.05), rng.uniform(0.5, 0.8)])
                time.sleep((expires - timezone.now()).total_seconds() + overdue)
            outcomes.record(payload, labels, timezone.now(), rate_all(client, payload, labels))

    run_threads(annotate, [(u, i) for i, u in enumerate(users)])

    assert project_done(project)
    late_ids = [late[0] for late in outcomes.late]
    assert late_ids, "no submit came late"
    assert {(status, code, past) for _, status, code, _, past in outcomes.late} == {(409, "lease_expired", True)}
    details = [detail for *_, detail, _ in outcomes.late]
    # Both refusal paths usually occur; which ones do depends on thread timing, so require
    # only that every refusal is one of them (tests/annotation/test_assignment.py pins each).
    assert set(details) <= {
        "this assignment is expired",  # taken over by another annotator before the submit
        "the lease on this assignment has expired",
    }  # not yet: the late submit frees the slot
    assert set(Assignment.objects.filter(pk__in=late_ids).values_list("state", flat=True)) == {"expired"}
    assert not Rating.objects.filter(assignment__in=late_ids).exists()

    submitted = Assignment.objects.filter(state="submitted")
    assert set(submitted.values_list("pk", flat=True)) == set(outcomes.accepted)
    per_task = submitted.values("task").annotate(n=Count("pk"), people=Count("annotator", distinct=True))
    assert len(per_task) == n_tasks and {(row["n"], row["people"]) for row in per_task} == {(3, 3)}
    stored: dict[int, dict[int, str]] = {}
    for assignment_id, candidate_id, label in Rating.objects.values_list("assignment", "candidate", "label"):
        stored.setdefault(assignment_id, {})[candidate_id] = label
    assert stored == outcomes.accepted  # every accepted rating stored once, as sent; nothing else
    assert set(Task.objects.values_list("open_slots", "rating_count")) == {(0, 3)}
    assert not Assignment.objects.filter(state="leased").exists()
    assert PairResult.objects.count() == n_tasks * candidates
    assert {sum(result.votes.values()) for result in PairResult.objects.all()} == {3}
