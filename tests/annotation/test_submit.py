"""Submit: stored labels, idempotent repeats, and every refusal leaves data unchanged."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, PairResult, Rating, Task
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(annotators):
    project = make_project(n_tasks=2, per_task=1)
    join(project, *annotators[:2])
    client = client_for(annotators[0])
    return client, next_task(client, project).json()


def stored():
    return (
        sorted(Rating.objects.values_list("candidate_id", "label")),
        sorted(Assignment.objects.values_list("pk", "state")),
        list(Task.objects.values_list("rating_count")),
    )


def test_submit_stores_labels_flags_and_seconds(leased):
    client, payload = leased
    response = rate_all(client, payload, ["good", "partial", "bad"], flags=["media_broken"], seconds=12.5)
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "submitted" and body["flags"] == ["media_broken"] and body["seconds"] == 12.5
    ids = [c["id"] for c in payload["candidates"]]
    assert body["ratings"] == [{"candidate": c, "label": lab} for c, lab in zip(ids, ["good", "partial", "bad"])]
    assert Task.objects.get(assignments__pk=payload["id"]).rating_count == 1
    assert PairResult.objects.filter(state="single").count() == 3


def test_same_submission_again_returns_stored_result(leased):
    client, payload = leased
    first = rate_all(client, payload, ["good", "partial", "bad"], seconds=3)
    before = stored()
    again = rate_all(client, payload, ["good", "partial", "bad"], seconds=3)
    assert again.status_code == 200 and again.json() == first.json()
    assert stored() == before


def test_different_body_after_submit_is_409(leased):
    client, payload = leased
    rate_all(client, payload, "good")
    before = stored()
    response = rate_all(client, payload, "bad")
    assert (response.status_code, response.json()["code"]) == (409, "already_submitted_differently")
    assert stored() == before


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda r: r[:-1], "missing_candidate"),
        (lambda r: r + [{"candidate": 999999, "label": "good"}], "unknown_candidate"),
        (lambda r: [{**r[0], "label": "great"}] + r[1:], "invalid_label"),
        (lambda r: [{**r[0], "candidate": "abc"}] + r[1:], "unknown_candidate"),
        (lambda r: r + [r[0]], "duplicate_candidate"),
        (lambda r: [{"label": "good"}], "invalid_body"),
    ],
)
def test_bad_ratings_are_refused_and_nothing_stored(leased, mutate, code):
    client, payload = leased
    ratings = [{"candidate": c["id"], "label": "good"} for c in payload["candidates"]]
    before = stored()
    response = client.post(f"/api/assignments/{payload['id']}/submit/", {"ratings": mutate(ratings)}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert stored() == before


def test_candidate_of_another_task_is_unknown(leased):
    client, payload = leased
    other = Task.objects.exclude(assignments__pk=payload["id"]).get().candidates.first()
    ratings = [{"candidate": c["id"], "label": "good"} for c in payload["candidates"]]
    ratings[0]["candidate"] = other.pk
    response = client.post(f"/api/assignments/{payload['id']}/submit/", {"ratings": ratings}, format="json")
    assert response.json()["code"] == "unknown_candidate"


@pytest.mark.parametrize(
    "extra, code",
    [
        ({"flags": ["blurry"]}, "invalid_flag"),
        ({"seconds": "soon"}, "invalid_seconds"),
        ({"seconds": -1}, "invalid_seconds"),
    ],
)
def test_bad_flags_and_seconds(leased, extra, code):
    client, payload = leased
    response = rate_all(client, payload, **extra)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not Rating.objects.exists()


def test_foreign_assignment_is_refused(leased, annotators):
    _, payload = leased
    response = rate_all(client_for(annotators[1]), payload)
    assert (response.status_code, response.json()["code"]) == (403, "not_your_assignment")
    assert not Rating.objects.exists()
    missing = client_for(annotators[1]).post("/api/assignments/999999/submit/", {"ratings": []}, format="json")
    assert missing.status_code == 404


def test_skipped_assignment_cannot_be_submitted(leased):
    client, payload = leased
    client.post(f"/api/assignments/{payload['id']}/skip/")
    response = rate_all(client, payload)
    assert (response.status_code, response.json()["code"]) == (409, "lease_expired")
