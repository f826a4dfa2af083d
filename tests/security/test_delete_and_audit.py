"""A project with ratings needs a confirmed delete; admin actions land in the audit log."""

from __future__ import annotations

import pytest

from annotation.models import AuditEntry, Project, Rating, Task
from tests.annotation.workflow_setup import client_for, join, make_project, make_user, next_task, rate_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated():
    project = make_project(n_tasks=2, candidates=1, per_task=1, name="rated one")
    admin, annotator = make_user("boss", staff=True), make_user("ann")
    join(project, annotator)
    client = client_for(annotator)
    assert rate_all(client, next_task(client, project).json()).status_code == 200
    return project, client_for(admin), client


def test_project_with_ratings_is_not_deleted_by_one_unconfirmed_request(rated):
    project, admin, _ = rated
    for query in ("", "?confirm=", "?confirm=rated", "?confirm=RATED%20ONE"):
        response = admin.delete(f"/api/projects/{project.pk}/{query}")
        assert response.status_code == 409 and response.json()["code"] == "has_ratings", query
    assert Project.objects.filter(pk=project.pk).exists() and Rating.objects.count() == 1
    assert not AuditEntry.objects.exists()

    assert admin.delete(f"/api/projects/{project.pk}/?confirm=rated%20one").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists() and Rating.objects.count() == 0
    entry = AuditEntry.objects.get()
    assert (
        entry.actor.username,
        entry.actor_name,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.target_repr,
    ) == ("boss", "boss", "project.delete", "project", project.pk, "rated one")
    assert entry.details == {"ratings": 1, "tasks": 2} and entry.created_at is not None


def test_project_without_ratings_deletes_at_once_and_annotators_cannot(rated):
    _, admin, annotator = rated
    empty = make_project(n_tasks=1, candidates=1, name="empty")
    assert annotator.delete(f"/api/projects/{empty.pk}/").status_code in (403, 404)
    assert not AuditEntry.objects.exists()
    assert admin.delete(f"/api/projects/{empty.pk}/").status_code == 204
    assert not Task.objects.filter(project_id=empty.pk).exists()
    assert AuditEntry.objects.get().action == "project.delete"


def test_admin_actions_are_recorded(rated):
    project, admin, _ = rated
    make_user("newbie")
    for action in ("members", "members/pause"):
        response = admin.post(f"/api/projects/{project.pk}/{action}/", {"usernames": ["newbie"]}, format="json")
        assert response.status_code == 200
    assert admin.post(f"/api/projects/{project.pk}/launch/").status_code == 409  # refused: not recorded
    started = admin.post(f"/api/projects/{project.pk}/exports/", {"format": "jsonl"}, format="json")
    assert started.status_code == 202
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "target_type", "details"))
    assert actions == [
        ("members.add", "project", {"usernames": ["newbie"]}),
        ("members.pause", "project", {"usernames": ["newbie"]}),
        ("export.start", "exportrun", {"format": "jsonl", "projects": [project.pk]}),
    ]


def test_audit_log_is_read_only_in_the_admin(rated, client):
    project, admin, _ = rated
    admin.post(f"/api/projects/{project.pk}/members/pause/", {"usernames": ["ann"]}, format="json")
    entry = AuditEntry.objects.get()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("root", is_staff=True, is_superuser=True))
    listing = client.get("/admin/annotation/auditentry/")
    assert listing.status_code == 200 and b"members.pause" in listing.content
    assert client.get("/admin/annotation/auditentry/add/").status_code == 403
    assert client.post(f"/admin/annotation/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/annotation/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403
    assert AuditEntry.objects.get().action == "members.pause"


def test_pipeline_actions_from_the_django_admin_are_recorded(client):
    from django.contrib.auth import get_user_model

    running = make_project(n_tasks=1, candidates=1, name="running", state="launching")
    draft = make_project(n_tasks=1, candidates=1, name="draft", state="draft")
    client.force_login(get_user_model().objects.create_user("root", is_staff=True, is_superuser=True))
    for project in (running, draft):  # cancelling the draft is refused: not recorded
        client.post("/admin/annotation/project/", {"action": "cancel", "_selected_action": [project.pk]})
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.actor_name, entry.details) == (
        "pipeline.cancel",
        running.pk,
        "root",
        {"via": "admin"},
    )
