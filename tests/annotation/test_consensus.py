"""Consensus rules and contested routes, computed as ratings arrive."""

from __future__ import annotations

from collections import Counter

import pytest

from annotation.rating.consensus import decide
from annotation.models import PairResult, Task, TaskCandidate
from annotation.pipeline.derived_media import RENDER_VIEWS, derived_paths
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all


@pytest.mark.parametrize(
    "votes, rule, expected",
    [
        ({"good": 3}, "unanimous", "good"),
        ({"good": 2, "bad": 1}, "unanimous", None),
        ({"good": 2, "bad": 1}, "majority", "good"),
        ({"good": 1, "bad": 1, "partial": 1}, "majority", None),
        ({"good": 2, "bad": 2}, "majority", None),
        ({"good": 3, "bad": 1}, "majority", "good"),
        ({"good": 3, "bad": 1}, "unanimous", "good"),  # after an extra annotator: three agree
    ],
)
def test_decide(votes, rule, expected):
    assert decide(Counter(votes), rule, 3) == expected


def rate_task(project, users, labels_per_user):
    """Each user takes the next task and rates all its candidates with their labels."""
    for user, labels in zip(users, labels_per_user):
        client = client_for(user)
        payload = next_task(client, project).json()
        assert rate_all(client, payload, labels).status_code == 200


def results(project):
    return [(r.state, r.label, r.votes) for r in PairResult.objects.filter(project=project).order_by("candidate__slot")]


@pytest.mark.django_db
def test_no_result_until_all_three_rated(annotators):
    project = make_project(n_tasks=1, candidates=1)
    join(project, *annotators[:3])
    rate_task(project, annotators[:2], [["good"], ["good"]])
    assert results(project) == []
    rate_task(project, annotators[2:3], [["good"]])
    assert results(project) == [("agreed", "good", {"good": 3})]


@pytest.mark.django_db
def test_adjudication_queue_shows_point_clouds_as_annotators_saw_them(annotators, admin, media_root):
    """The queue hands the adjudicator the pipeline's renders, not only the raw cloud file."""
    project = make_project(n_tasks=1, candidates=1, modality="point_cloud", contested_route="adjudicate")
    join(project, *annotators[:3])
    item = TaskCandidate.objects.get(task__project=project).item
    for relative in derived_paths("point_cloud", item.id).values():
        (media_root / relative).parent.mkdir(parents=True, exist_ok=True)
        (media_root / relative).write_bytes(b"RIFF")
    rate_task(project, annotators[:3], [["good"], ["partial"], ["bad"]])
    pair = client_for(admin).get(f"/api/projects/{project.pk}/contested/").json()["results"][0]
    assert pair["media"]["modality"] == "point_cloud"
    assert len(pair["media"]["renders"]["views"]) == RENDER_VIEWS and pair["media"]["renders"]["sheet"]
    assert all(
        url.startswith("/api/media/") for url in [*pair["media"]["renders"]["views"], pair["media"]["media_url"]]
    )


@pytest.mark.django_db
def test_majority_and_adjudication_queue(annotators, admin):
    project = make_project(n_tasks=1, candidates=2, consensus_rule="majority", contested_route="adjudicate")
    join(project, *annotators[:3])
    rate_task(project, annotators[:3], [["good", "good"], ["good", "partial"], ["bad", "bad"]])
    assert results(project) == [
        ("agreed", "good", {"good": 2, "bad": 1}),
        ("contested", "", {"good": 1, "partial": 1, "bad": 1}),
    ]
    staff = client_for(admin)
    queue = staff.get(f"/api/projects/{project.pk}/contested/").json()
    assert queue["count"] == 1
    pair = queue["results"][0]
    assert pair["votes"] == {"good": 1, "partial": 1, "bad": 1} and pair["caption"] == "caption 0"
    response = staff.post(
        f"/api/projects/{project.pk}/contested/{pair['id']}/adjudicate/",
        {"label": "partial", "note": "close enough"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["state"] == "adjudicated"
    assert results(project)[1][:2] == ("adjudicated", "partial")
    assert staff.get(f"/api/projects/{project.pk}/contested/").json()["count"] == 0
    agreed = PairResult.objects.get(state="agreed")
    refused = staff.post(
        f"/api/projects/{project.pk}/contested/{agreed.pk}/adjudicate/", {"label": "bad"}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "not_contested")
    bad_label = staff.post(
        f"/api/projects/{project.pk}/contested/{pair['id']}/adjudicate/", {"label": "meh"}, format="json"
    )
    assert bad_label.status_code == 400


@pytest.mark.django_db
def test_unanimous_needs_all_three(annotators):
    project = make_project(n_tasks=1, candidates=2, consensus_rule="unanimous")
    join(project, *annotators[:3])
    rate_task(project, annotators[:3], [["good", "bad"], ["good", "bad"], ["partial", "bad"]])
    assert [r[:2] for r in results(project)] == [("contested", ""), ("agreed", "bad")]


@pytest.mark.django_db
def test_exclude_route(annotators):
    project = make_project(n_tasks=1, candidates=1, consensus_rule="unanimous", contested_route="exclude")
    join(project, *annotators[:3])
    rate_task(project, annotators[:3], [["good"], ["good"], ["bad"]])
    assert results(project) == [("excluded", "", {"good": 2, "bad": 1})]


@pytest.mark.django_db
def test_extra_annotators_until_the_rule_holds(annotators):
    project = make_project(
        n_tasks=1, candidates=1, consensus_rule="majority", contested_route="extra_annotators", max_extra_annotators=2
    )
    join(project, *annotators[:6])
    rate_task(project, annotators[:3], [["good"], ["partial"], ["bad"]])
    task = Task.objects.get()
    assert (task.extra_slots, task.open_slots) == (1, 1)
    assert results(project)[0][0] == "contested"
    rate_task(project, annotators[3:4], [["bad"]])  # 2 bad of 4: still no majority
    task.refresh_from_db()
    assert (task.extra_slots, task.open_slots, task.rating_count) == (2, 1, 4)
    rate_task(project, annotators[4:5], [["bad"]])  # 3 bad of 5
    assert results(project) == [("agreed", "bad", {"good": 1, "partial": 1, "bad": 3})]
    assert next_task(client_for(annotators[5]), project).status_code == 204


@pytest.mark.django_db
def test_extra_annotators_stop_at_the_maximum(annotators):
    project = make_project(
        n_tasks=1, candidates=1, consensus_rule="majority", contested_route="extra_annotators", max_extra_annotators=1
    )
    join(project, *annotators[:5])
    rate_task(project, annotators[:4], [["good"], ["partial"], ["bad"], ["good"]])
    assert results(project)[0][0] == "contested"  # 2 of 4: lands in the admin queue
    assert Task.objects.get().open_slots == 0
    assert next_task(client_for(annotators[4]), project).status_code == 204


@pytest.mark.django_db
def test_single_annotator_projects(annotators):
    project = make_project(n_tasks=1, candidates=2, per_task=1)
    join(project, annotators[0])
    rate_task(project, annotators[:1], [["partial", "bad"]])
    assert [r[:2] for r in results(project)] == [("single", "partial"), ("single", "bad")]
