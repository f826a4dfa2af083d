"""Every route in the URL conf has an explicit permission row, and the row holds.

The routes are read from the URL conf (django.urls.get_resolver), so a new route, or a new
method on one, fails here until ROUTES says who may call it. Each row is then exercised:
an anonymous caller, an annotator (member of the project) and an admin call the route, and
each must be refused by permission (`DENIED`) or let through to the view (`REACHED`, any
answer that is not a permission refusal: 200, 400, 404, 409, ...) as the row says; routes
outside DRF give a plain status (302 is Django's redirect to the login page).

Admins call with ids that do not exist, so nothing they reach changes state; the annotator
uses real ones, so the routes open to annotators run for real.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from annotation.models import Assignment
from tests.annotation.workflow_setup import join, make_project, make_user, next_task

pytestmark = pytest.mark.django_db

DENIED, REACHED = "denied", "reached"
PERMISSION_CODES = {"not_authenticated", "authentication_failed", "permission_denied"}
CALLERS = ("anonymous", "annotator", "admin")

ADMIN = {"anonymous": DENIED, "annotator": DENIED, "admin": REACHED}
MEMBER = {"anonymous": DENIED, "annotator": REACHED, "admin": REACHED}
PUBLIC = {"anonymous": REACHED, "annotator": REACHED, "admin": REACHED}
STAFF_PAGE = {"anonymous": 302, "annotator": 302, "admin": 200}  # Django's admin site

# (route name, or the pattern of a route without one; method) -> expectation per caller.
ROUTES = {
    ("admin/", "get"): STAFF_PAGE,
    ("login", "get"): {"anonymous": 200, "annotator": 200, "admin": 200},
    ("login", "post"): {"anonymous": 200, "annotator": 200, "admin": 200},  # the form again, with errors
    ("login", "put"): {"anonymous": 200, "annotator": 200, "admin": 200},  # Django's form views treat PUT as POST
    ("logout", "post"): {"anonymous": 302, "annotator": 302, "admin": 302},
    ("home", "get"): {"anonymous": 302, "annotator": 200, "admin": 200},
    ("healthz", "get"): {"anonymous": 200, "annotator": 200, "admin": 200},
    ("media/<path:path>", "get"): {"anonymous": 404, "annotator": 404, "admin": 404},  # the demo (DEBUG) only
    ("api-root", "get"): MEMBER,
    ("schema", "get"): PUBLIC,
    ("swagger-ui", "get"): PUBLIC,
    ("redoc", "get"): PUBLIC,
    ("^api/", "get"): PUBLIC,  # JSON 404 for unknown API paths
    ("api-token", "post"): PUBLIC,
    ("signed-media", "get"): PUBLIC,  # the signature is the credential
    # annotating
    ("project-list", "get"): MEMBER,
    ("project-list", "post"): ADMIN,
    ("project-detail", "get"): MEMBER,
    ("project-detail", "put"): ADMIN,
    ("project-detail", "patch"): ADMIN,
    ("project-detail", "delete"): ADMIN,
    ("project-next", "post"): MEMBER,
    ("assignment-detail", "get"): MEMBER,
    ("assignment-submit", "post"): MEMBER,
    ("assignment-undo", "post"): MEMBER,
    ("assignment-skip", "post"): MEMBER,
    # a project's resources
    ("project-members-members", "get"): ADMIN,
    ("project-members-members", "post"): ADMIN,
    ("project-members-pause", "post"): ADMIN,
    ("project-members-unpause", "post"): ADMIN,
    ("project-review-gold", "get"): ADMIN,
    ("project-review-gold", "post"): ADMIN,
    ("project-review-contested", "get"): ADMIN,
    ("project-review-adjudicate", "post"): ADMIN,
    ("project-stats-stats", "get"): ADMIN,
    ("project-launch", "post"): ADMIN,
    ("project-cancel", "post"): ADMIN,
    ("project-retry", "post"): ADMIN,
    ("project-pipeline", "get"): ADMIN,
    ("project-exports", "get"): ADMIN,
    ("project-exports", "post"): ADMIN,
    ("project-insights", "get"): ADMIN,
    ("project-insights-table", "get"): ADMIN,
    # data, embedding, exports, groups
    ("dataset-list", "get"): ADMIN,
    ("dataset-detail", "get"): ADMIN,
    ("dataset-screening", "get"): ADMIN,
    ("dataset-screening", "post"): ADMIN,
    ("embeddingspace-list", "get"): ADMIN,
    ("embeddingspace-detail", "get"): ADMIN,
    ("importrun-list", "get"): ADMIN,
    ("importrun-list", "post"): ADMIN,
    ("importrun-detail", "get"): ADMIN,
    ("embed-run-list", "get"): ADMIN,
    ("embed-run-list", "post"): ADMIN,
    ("embed-run-detail", "get"): ADMIN,
    ("export-list", "get"): ADMIN,
    ("export-list", "post"): ADMIN,
    ("export-detail", "get"): ADMIN,
    ("export-download", "get"): ADMIN,
    ("export-retry", "post"): ADMIN,
    ("groups-list", "get"): ADMIN,
    ("groups-list", "post"): ADMIN,
    ("groups-pairs", "post"): ADMIN,
    ("groups-detail", "get"): ADMIN,
    ("groups-cancel", "post"): ADMIN,
    ("groups-download", "get"): ADMIN,
    ("groups-projects", "post"): ADMIN,
    ("groups-retry", "post"): ADMIN,
    ("groups-clean", "get"): ADMIN,
    ("groups-clean", "post"): ADMIN,
    ("groups-cleaned-file", "get"): ADMIN,
}
OPTIONAL = {("media/<path:path>", "get")}  # only in the URL conf when DEBUG is on
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


class Route:
    def __init__(self, key: str, pattern: URLPattern | None, prefix: str):
        self.key, self.pattern, self.prefix = key, pattern, prefix

    def methods(self) -> list[str]:
        if self.pattern is None:  # the admin site
            return ["get"]
        callback = self.pattern.callback
        if getattr(callback, "actions", None):  # a DRF viewset's route (it adds HEAD once called)
            return [m for m in HTTP_METHODS if m in callback.actions]
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is None:  # a function view
            return ["get"]
        allowed = getattr(view, "http_method_names", HTTP_METHODS)
        return [m for m in HTTP_METHODS if m in allowed and hasattr(view, m)]

    def params(self) -> list[str]:
        return [] if self.pattern is None else [p for p in self.pattern.pattern.regex.groupindex if p != "format"]


def routes(patterns=None, prefix: str = "") -> dict[str, Route]:
    """Every route of the URL conf by name (a format-suffix twin shares its route's name)."""
    found: dict[str, Route] = {}
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                found.setdefault(str(entry.pattern), Route(str(entry.pattern), None, prefix))
            else:
                found.update(
                    {k: v for k, v in routes(entry.url_patterns, prefix + str(entry.pattern)).items() if k not in found}
                )
        else:
            key = entry.name or str(entry.pattern)
            found.setdefault(key, Route(key, entry, prefix))
    return found


def test_every_route_has_a_permission_row():
    walked = {(route.key, method) for route in routes().values() for method in route.methods()}
    assert sorted(walked - set(ROUTES)) == [], "routes without a row in ROUTES: say who may call them"
    assert sorted(set(ROUTES) - walked - OPTIONAL) == [], "rows in ROUTES for routes that no longer exist"


@pytest.fixture
def callers():
    project = make_project(n_tasks=2, candidates=1, per_task=1)
    annotator, admin = make_user("ann"), make_user("boss", staff=True)
    join(project, annotator)
    client = APIClient()
    client.force_login(annotator)
    assignment = next_task(client, project).json()["id"]
    assert Assignment.objects.filter(pk=assignment).exists()
    return {"anonymous": None, "annotator": annotator, "admin": admin}, project.pk, assignment


MISSING = 2**31 - 1  # no object has this id
VALUES = {"token": "not-a-signature", "table": "ratings", "fmt": "csv", "name": "none.csv", "path": "none.txt"}


def url_for(route: Route, caller: str, project: int, assignment: int) -> str:
    if route.pattern is None:
        return "/" + route.key
    if route.pattern.name is None:  # the media route, the API's JSON 404
        return "/" + route.prefix + {"media/<path:path>": "media/none.txt", "^api/": "no-such-path/"}[route.key]
    ids = {"pk": MISSING, "project_id": MISSING, "pair_id": MISSING}
    if caller != "admin":  # admins would change what they reach; the others' calls are the real ones
        pk = (
            assignment
            if route.key.startswith("assignment")
            else project
            if route.key.startswith("project")
            else MISSING
        )
        ids = {"pk": pk, "project_id": project, "pair_id": MISSING}
    return reverse(route.key, kwargs={name: {**VALUES, **ids}[name] for name in route.params()})


def outcome(response) -> str | int:
    refused = (
        response.status_code in (401, 403)
        and response.get("Content-Type", "").startswith("application/json")
        and response.json().get("code") in PERMISSION_CODES
    )
    return DENIED if refused else REACHED


def test_each_route_lets_in_only_whom_its_row_names(callers):
    users, project, assignment = callers
    failures = []
    for route in routes().values():
        for method in route.methods():
            expected = ROUTES[(route.key, method)]
            for caller in CALLERS:
                client = APIClient()
                if users[caller] is not None:
                    client.force_login(users[caller])
                url = url_for(route, caller, project, assignment)
                response = getattr(client, method)(url, {} if method != "get" else None, format="json")
                got = outcome(response) if isinstance(expected[caller], str) else response.status_code
                if got != expected[caller]:
                    failures.append(
                        f"{method.upper()} {url} as {caller}: {got} ({response.status_code}), "
                        f"expected {expected[caller]}"
                    )
    assert failures == []
