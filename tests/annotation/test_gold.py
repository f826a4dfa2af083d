"""Gold pairs: mixed in at gold_rate, indistinguishable, scored, auto-pause below threshold."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, PairResult, ProjectMember, Task
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all

pytestmark = pytest.mark.django_db


def mark_gold(admin, project, positions, label="good"):
    pairs = [
        {"candidate": c.pk, "label": label}
        for p in positions
        for c in Task.objects.get(project=project, position=p).candidates.all()
    ]
    return client_for(admin).post(f"/api/projects/{project.pk}/gold/", {"pairs": pairs}, format="json")


def test_gold_is_mixed_in_at_the_rate_and_looks_the_same(admin, annotators):
    project = make_project(n_tasks=8, candidates=2, per_task=1, gold_rate=0.25)
    response = mark_gold(admin, project, [6, 7])
    assert response.status_code == 200 and len(response.json()) == 4
    join(project, annotators[0])
    client = client_for(annotators[0])
    payloads = []
    while (response := next_task(client, project)).status_code == 200:
        payloads.append(response.json())
        rate_all(client, response.json())
    gold_flags = [Assignment.objects.get(pk=p["id"]).gold for p in payloads]
    assert gold_flags == [False, False, False, True, False, False, False, True]
    assert {frozenset(p) for p in payloads} == {frozenset(payloads[0])}
    assert all({frozenset(c) for c in p["candidates"]} == {frozenset(payloads[0]["candidates"][0])} for p in payloads)
    assert not PairResult.objects.filter(task__is_gold=True).exists()


def test_gold_accuracy_and_auto_pause(admin, annotators):
    project = make_project(
        n_tasks=6, candidates=2, per_task=1, gold_rate=0.5, gold_pause_threshold=0.6, gold_min_answers=4
    )
    mark_gold(admin, project, [0, 1, 2])
    join(project, *annotators[:2])
    client = client_for(annotators[0])
    answers = iter([["good", "good"], ["bad", "bad"], ["good", "bad"], ["bad", "bad"]])
    for _ in range(4):
        payload = next_task(client, project).json()
        gold = Assignment.objects.get(pk=payload["id"]).gold
        rate_all(client, payload, next(answers) if gold else "good")
    member = ProjectMember.objects.get(user=annotators[0])
    assert (member.gold_answered, member.gold_correct) == (4, 2)
    assert member.paused and member.paused_reason == "gold"
    response = next_task(client, project)
    assert (response.status_code, response.json()["code"]) == (403, "member_paused")
    people = client_for(admin).get(f"/api/projects/{project.pk}/members/").json()
    assert people[0]["gold_accuracy"] == 0.5 and people[0]["paused_reason"] == "gold"
    unpaused = client_for(admin).post(
        f"/api/projects/{project.pk}/members/unpause/", {"usernames": ["ann0"]}, format="json"
    )
    assert unpaused.json()[0]["paused"] is False
    assert next_task(client, project).status_code == 200


def test_no_pause_before_minimum_answers(admin, annotators):
    project = make_project(
        n_tasks=4, candidates=1, per_task=1, gold_rate=0.5, gold_pause_threshold=0.9, gold_min_answers=5
    )
    mark_gold(admin, project, [0, 1])
    join(project, annotators[0])
    client = client_for(annotators[0])
    for _ in range(4):
        rate_all(client, next_task(client, project).json(), "bad")
    member = ProjectMember.objects.get(user=annotators[0])
    assert (member.gold_answered, member.gold_correct, member.paused) == (2, 0, False)


def test_gold_for_unknown_candidate_is_refused(admin):
    project = make_project(n_tasks=1)
    other = make_project(n_tasks=1, name="other")
    foreign = other.tasks.get().candidates.first().pk
    response = client_for(admin).post(
        f"/api/projects/{project.pk}/gold/", {"pairs": [{"candidate": foreign, "label": "good"}]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "unknown_candidate")
    assert not Task.objects.filter(is_gold=True).exists()
