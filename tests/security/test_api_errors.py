"""The API's 500 causes found by fuzzing, one test each, and the one error shape.

Each refusal leaves the database as it was; each error body is `{"code", "detail", ...}`.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.rating.exceptions import WorkflowError
from annotation.rating.submit import parse_submission
from annotation.models import Assignment, ExportRun, Project, ProjectMember, Rating
from tests.annotation.workflow_setup import client_for, join, make_project, make_user, next_task

pytestmark = pytest.mark.django_db

DEEP = ("[" * 100_000 + "]" * 100_000).encode()


@pytest.fixture
def world():
    project = make_project(n_tasks=3, candidates=2, per_task=1)
    admin, annotator = make_user("boss", staff=True), make_user("ann")
    join(project, annotator)
    payload = next_task(client_for(annotator), project).json()
    return project, client_for(admin), client_for(annotator), payload


def snapshot():
    return (
        list(Rating.objects.values_list("pk", flat=True)),
        sorted(Assignment.objects.values_list("pk", "state")),
        list(ProjectMember.objects.values_list("pk", flat=True)),
        ExportRun.objects.count(),
    )


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"], body
    return body


@pytest.mark.parametrize("who", ["admin", "annotator"])
def test_huge_limit_is_clamped_not_sent_to_sql(world, who):
    project, admin, annotator, _ = world
    client = admin if who == "admin" else annotator
    for limit in (2**63, 2**64, 10**30):
        response = client.get(f"/api/projects/?limit={limit}&offset={2**63}")
        assert response.status_code == 200 and response.json()["results"] == []
        response = client.get(f"/api/projects/?limit={limit}")
        assert response.status_code == 200 and len(response.json()["results"]) == 1
    if who == "admin":
        response = admin.get(f"/api/projects/{project.pk}/contested/?limit={2**63}")
        assert response.status_code == 200 and "bigint" not in response.content.decode()
        assert admin.get(f"/api/exports/?limit={2**63}").status_code == 200


def test_limit_above_the_maximum_gives_the_maximum(world):
    from annotation.api.pagination import MAX_LIMIT

    project, admin, _, _ = world
    for i in range(3):
        make_project(n_tasks=1, candidates=1, name=f"extra{i}")
    with_max = admin.get(f"/api/projects/?limit={MAX_LIMIT * 10}").json()
    assert with_max["count"] == 4 and len(with_max["results"]) == 4
    assert len(admin.get("/api/projects/?limit=2").json()["results"]) == 2


def test_deeply_nested_json_is_400_on_every_json_endpoint(world):
    project, admin, annotator, payload = world
    before = snapshot()
    calls = [
        (annotator, f"/api/assignments/{payload['id']}/submit/"),
        (admin, f"/api/projects/{project.pk}/members/"),
        (admin, f"/api/projects/{project.pk}/gold/"),
        (admin, "/api/exports/"),
        (admin, f"/api/projects/{project.pk}/exports/"),
        (admin, "/api/projects/"),
        (APIClient(), "/api/auth/token/"),
    ]  # without logging in
    for client, url in calls:
        response = client.generic("POST", url, DEEP, content_type="application/json")
        body = assert_error(response, 400, "parse_error")
        assert "nested" in body["detail"]
    # Shallower than the recursion limit but deeper than the API's: refused the same way.
    response = admin.generic(
        "POST",
        "/api/exports/",
        b'{"format": "jsonl", "filters": ' + b"[" * 40 + b"]" * 40 + b"}",
        content_type="application/json",
    )
    assert_error(response, 400, "parse_error")
    assert snapshot() == before


def test_candidate_id_1e999_and_out_of_range_ids_are_400(world):
    _, _, annotator, payload = world
    before = snapshot()
    url = f"/api/assignments/{payload['id']}/submit/"
    other = payload["candidates"][1]["id"]
    for raw in (b"1e999", b"-1e999"):
        body = (
            b'{"ratings": [{"candidate": '
            + raw
            + b', "label": "good"}, {"candidate": '
            + str(other).encode()
            + b', "label": "good"}]}'
        )
        assert_error(annotator.generic("POST", url, body, content_type="application/json"), 400, "parse_error")
    for candidate in (2**63, 2**64, -1, 0, 1.5, True, "x"):
        response = annotator.post(url, {"ratings": [{"candidate": candidate, "label": "good"}]}, format="json")
        assert_error(response, 400, "unknown_candidate")
    # The workflow's own check holds without the parser (Python callers, form bodies).
    with pytest.raises(WorkflowError) as refused:
        parse_submission({"ratings": [{"candidate": float("inf"), "label": "good"}]})
    assert refused.value.code == "unknown_candidate"
    assert snapshot() == before


def test_out_of_range_path_ids_are_404(world):
    project, admin, annotator, _ = world
    rating = {"ratings": [{"candidate": 1, "label": "good"}]}
    for url in (f"/api/assignments/{2**63}/submit/", f"/api/assignments/{2**70}/skip/"):
        assert_error(annotator.post(url, rating, format="json"), 404, "not_found")
    assert_error(annotator.post(f"/api/projects/{2**63}/assignments/next/"), 404, "not_found")
    assert_error(
        admin.post(f"/api/projects/{project.pk}/contested/{2**64}/adjudicate/", {"label": "good"}, format="json"),
        404,
        "not_found",
    )
    assert_error(admin.post(f"/api/projects/{2**64}/launch/"), 404, "not_found")
    response = admin.post("/api/exports/", {"format": "jsonl", "projects": [2**64]}, format="json")
    assert_error(response, 400, "invalid")
    response = admin.post(
        f"/api/projects/{project.pk}/gold/", {"pairs": [{"candidate": 2**64, "label": "good"}]}, format="json"
    )
    assert_error(response, 400, "invalid")


def test_invalid_label_does_not_echo_a_huge_label(world):
    _, _, annotator, payload = world
    before = snapshot()
    huge = "x" * 1_000_000
    ratings = [{"candidate": c["id"], "label": huge} for c in payload["candidates"]]
    response = annotator.post(f"/api/assignments/{payload['id']}/submit/", {"ratings": ratings}, format="json")
    assert_error(response, 400, "invalid_label")
    assert len(response.content) < 500
    assert snapshot() == before


def test_drf_errors_come_in_the_one_shape(world):
    project, admin, annotator, payload = world
    body = assert_error(
        admin.post(f"/api/projects/{project.pk}/members/", {"usernames": []}, format="json"), 400, "invalid"
    )
    assert list(body["fields"]) == ["usernames"]
    body = assert_error(
        admin.post(f"/api/projects/{project.pk}/gold/", {"pairs": [{"candidate": "x"}]}, format="json"), 400, "invalid"
    )
    assert set(body["fields"]) == {"pairs.0.candidate", "pairs.0.label"}
    assert_error(APIClient().get("/api/projects/"), 403, "not_authenticated")
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error(bad_token.get("/api/projects/"), 403, "authentication_failed")  # 403: session auth comes first
    assert_error(annotator.get("/api/datasets/"), 403, "permission_denied")
    assert_error(annotator.get(f"/api/projects/{10**6}/"), 404, "not_found")
    assert_error(
        annotator.put(f"/api/assignments/{payload['id']}/submit/", {}, format="json"), 405, "method_not_allowed"
    )
    assert_error(admin.generic("POST", "/api/projects/", b"{nope", content_type="application/json"), 400, "parse_error")
    assert_error(
        admin.generic("POST", "/api/projects/", b"x", content_type="text/plain"), 415, "unsupported_media_type"
    )
    assert_error(admin.get("/api/projects/", HTTP_ACCEPT="image/png"), 406, "not_acceptable")
    # Launch refusals keep their field errors; export refusals name their field.
    body = assert_error(admin.post(f"/api/projects/{project.pk}/launch/"), 409, "already_launched")
    assert "fields" not in body
    body = assert_error(
        admin.post(
            "/api/exports/", {"format": "jsonl", "projects": [project.pk], "filters": {"nope": 1}}, format="json"
        ),
        400,
        "invalid_export",
    )
    assert body["field"].startswith("filters") and body["fields"][body["field"]]


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/projects/abc/launch/"),
        ("get", "/api/projects/1x/exports/"),
        ("get", "/api/nowhere/"),
        ("post", "/api/nowhere/deeper/"),
        ("get", "/api/projects/abc/"),
        ("post", "/api/assignments/abc/skip/"),
        ("get", "/api/media/"),
        ("get", "/api/projects/abc/pipeline/"),
        ("get", "/api/projects/a/insights/x.csv"),
        ("post", "/api/projects"),
    ],
)  # no 301 under /api/
def test_unknown_api_paths_are_json_404(world, method, path):
    _, admin, _, _ = world
    response = getattr(admin, method)(path)
    assert response["Content-Type"].startswith("application/json"), path
    assert_error(response, 404, "not_found")


def test_project_form_errors_keep_field_names_for_the_browser_app(world):
    """frontend/src/api.ts reads `fields` of a coded error to mark the form's fields."""
    _, admin, _, _ = world
    body = assert_error(admin.post("/api/projects/", {"name": ""}, format="json"), 400, "invalid")
    assert "name" in body["fields"] and all(isinstance(m, str) for m in body["fields"]["name"])
    assert Project.objects.count() == 1
