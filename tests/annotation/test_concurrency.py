"""Races on real PostgreSQL: 50 annotators draining a 3-annotators-per-task project at once."""
from __future__ import annotations

import random
import threading

import pytest
from django.db import connection
from django.db.models import Count
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
    return (Task.objects.filter(project=project, is_gold=False).exclude(open_slots=0)
            .exclude(assignments__annotator=user).count())


@pytest.mark.django_db(transaction=True)
def test_fifty_annotators_drain_a_project():
    project = make_project(n_tasks=N_TASKS, candidates=CANDIDATES, per_task=3, consensus_rule="majority",
                           contested_route="exclude")
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
    per_task = Assignment.objects.filter(state="submitted").values("task").annotate(
        n=Count("pk"), people=Count("annotator", distinct=True))
    assert len(per_task) == N_TASKS
    assert {(row["n"], row["people"]) for row in per_task} == {(3, 3)}
    assert not Assignment.objects.exclude(state="submitted").exists()
    assert sorted(a for ids in submitted.values() for a in ids) == sorted(
        Assignment.objects.values_list("pk", flat=True))
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
