"""Every endpoint against four callers: anonymous, annotator of another project, annotator, admin."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Assignment, Dataset, PairResult, Project
from tests.annotation.workflow_setup import client_for, join, make_project, make_user, next_task, rate_all

pytestmark = pytest.mark.django_db
DENIED = (401, 403)


@pytest.fixture
def world():
    project = make_project(n_tasks=3, candidates=1, per_task=1)
    other = make_project(n_tasks=1, candidates=1, name="other")
    users = {"annotator": make_user("ann"), "outsider": make_user("outsider"), "admin": make_user("boss", True)}
    join(project, users["annotator"])
    join(other, users["outsider"])
    payload = next_task(client_for(users["annotator"]), project).json()
    space = project.space_id
    clients = {"anonymous": APIClient(), **{k: client_for(u) for k, u in users.items()}}
    return project, payload, space, clients


def call(client, method, url, body=None):
    return getattr(client, method)(url, body, format="json")


def project_create_body(space):
    return {
        "name": "new",
        "target_modality": "image",
        "space": space,
        "sample_size": 2,
        "item_cap": 3,
        "k": 4,
        "caption_datasets": [Dataset.objects.get().pk],
    }


# (name, method, url template, body, {caller: expected status})
ADMIN_ONLY = {"anonymous": DENIED, "outsider": (403,), "annotator": (403,)}
ENDPOINTS = [
    ("datasets", "get", "/api/datasets/", None, {**ADMIN_ONLY, "admin": (200,)}),
    ("spaces", "get", "/api/spaces/", None, {**ADMIN_ONLY, "admin": (200,)}),
    ("imports", "get", "/api/imports/", None, {**ADMIN_ONLY, "admin": (200,)}),
    (
        "project list",
        "get",
        "/api/projects/",
        None,
        {"anonymous": DENIED, "outsider": (200,), "annotator": (200,), "admin": (200,)},
    ),
    (
        "project detail",
        "get",
        "/api/projects/{p}/",
        None,
        {"anonymous": DENIED, "outsider": (404,), "annotator": (200,), "admin": (200,)},
    ),
    ("project create", "post", "/api/projects/", "create", {**ADMIN_ONLY, "admin": (201,)}),
    ("project update", "patch", "/api/projects/{p}/", {"instructions": "new"}, {**ADMIN_ONLY, "admin": (200,)}),
    ("members list", "get", "/api/projects/{p}/members/", None, {**ADMIN_ONLY, "admin": (200,)}),
    ("members add", "post", "/api/projects/{p}/members/", {"usernames": ["outsider"]}, {**ADMIN_ONLY, "admin": (200,)}),
    ("pause", "post", "/api/projects/{p}/members/pause/", {"usernames": ["ann"]}, {**ADMIN_ONLY, "admin": (200,)}),
    ("unpause", "post", "/api/projects/{p}/members/unpause/", {"usernames": ["ann"]}, {**ADMIN_ONLY, "admin": (200,)}),
    (
        "next",
        "post",
        "/api/projects/{p}/assignments/next/",
        None,
        {"anonymous": DENIED, "outsider": (404,), "annotator": (200,), "admin": (403,)},
    ),
    ("gold list", "get", "/api/projects/{p}/gold/", None, {**ADMIN_ONLY, "admin": (200,)}),
    ("gold mark", "post", "/api/projects/{p}/gold/", "gold", {**ADMIN_ONLY, "admin": (200,)}),
    ("contested", "get", "/api/projects/{p}/contested/", None, {**ADMIN_ONLY, "admin": (200,)}),
    (
        "adjudicate",
        "post",
        "/api/projects/{p}/contested/{pair}/adjudicate/",
        {"label": "good"},
        {**ADMIN_ONLY, "admin": (200,)},
    ),
    ("stats", "get", "/api/projects/{p}/stats/", None, {**ADMIN_ONLY, "admin": (200,)}),
    (
        "assignment detail",
        "get",
        "/api/assignments/{a}/",
        None,
        {"anonymous": DENIED, "outsider": (404,), "annotator": (200,), "admin": (200,)},
    ),
    (
        "submit",
        "post",
        "/api/assignments/{a}/submit/",
        "submit",
        {"anonymous": DENIED, "outsider": (403,), "annotator": (200,), "admin": (403,)},
    ),
    (
        "undo",
        "post",
        "/api/assignments/{a}/undo/",
        None,
        {"anonymous": DENIED, "outsider": (403,), "annotator": (409,), "admin": (403,)},
    ),
    (
        "skip",
        "post",
        "/api/assignments/{a}/skip/",
        None,
        {"anonymous": DENIED, "outsider": (403,), "annotator": (200,), "admin": (403,)},
    ),
    ("project delete", "delete", "/api/projects/{p}/", None, {**ADMIN_ONLY, "admin": (204,)}),
]


@pytest.mark.parametrize("caller", ["anonymous", "outsider", "annotator", "admin"])
@pytest.mark.parametrize("name, method, url, body, expected", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_endpoint_permissions(world, caller, name, method, url, body, expected):
    project, payload, space, clients = world
    pair = PairResult.objects.create(
        project=project,
        task_id=Assignment.objects.get(pk=payload["id"]).task_id,
        candidate_id=payload["candidates"][0]["id"],
        state="contested",
        item_modality="image",
    )
    body = (
        {
            "create": project_create_body(space),
            "gold": {"pairs": [{"candidate": payload["candidates"][0]["id"], "label": "good"}]},
            "submit": {"ratings": [{"candidate": payload["candidates"][0]["id"], "label": "good"}]},
        }.get(body, body)
        if isinstance(body, str)
        else body
    )
    response = call(clients[caller], method, url.format(p=project.pk, a=payload["id"], pair=pair.pk), body)
    assert response.status_code in expected[caller], (caller, response.status_code, response.content[:200])


def test_annotators_see_only_their_projects_and_own_progress(world):
    project, payload, _, clients = world
    mine = clients["annotator"].get("/api/projects/").json()["results"]
    assert [p["id"] for p in mine] == [project.pk]
    assert mine[0]["my_progress"] == {"submitted": 0, "paused": False}
    assert "seed" not in mine[0] and "gold_rate" not in mine[0]
    assert project.pk not in [p["id"] for p in clients["outsider"].get("/api/projects/").json()["results"]]
    assert "seed" in clients["admin"].get(f"/api/projects/{project.pk}/").json()
    rate_all(clients["annotator"], payload)
    assert clients["annotator"].get(f"/api/projects/{project.pk}/").json()["my_progress"]["submitted"] == 1


def test_admin_creates_project_in_draft_and_cannot_set_state(world):
    project, _, space, clients = world
    response = clients["admin"].post("/api/projects/", {**project_create_body(space), "state": "ready"}, format="json")
    assert response.status_code == 201 and response.json()["state"] == "draft"
    assert Project.objects.get(name="new").created_by.username == "boss"


def test_members_add_is_all_or_nothing(world):
    project, _, _, clients = world
    response = clients["admin"].post(
        f"/api/projects/{project.pk}/members/", {"usernames": ["outsider", "ghost"]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "unknown_user")
    assert list(project.memberships.values_list("user__username", flat=True)) == ["ann"]
    response = clients["admin"].post(
        f"/api/projects/{project.pk}/members/pause/", {"usernames": ["outsider"]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "not_a_member")


def test_token_login_and_browser_session_needs_csrf(world):
    make_user("pw-user", password="s3cret-enough-pw")
    client = APIClient()
    token = client.post("/api/auth/token/", {"username": "pw-user", "password": "s3cret-enough-pw"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/projects/").status_code == 200
    assert APIClient().post("/api/auth/token/", {"username": "pw-user", "password": "wrong"}).status_code == 400
    browser = APIClient(enforce_csrf_checks=True)
    browser.login(username="pw-user", password="s3cret-enough-pw")
    assert browser.get("/api/projects/").status_code == 200
    assert browser.post("/api/projects/1/assignments/next/").status_code == 403  # no CSRF token


def test_openapi_schema_lists_the_workflow(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (
        "/api/projects/{id}/assignments/next/",
        "/api/assignments/{id}/submit/",
        "/api/projects/{id}/contested/{pair_id}/adjudicate/",
        "/api/projects/{id}/stats/",
    ):
        assert path in schema["paths"]
