"""Launch, cancel, retry and watch through the API; bad launches change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotation.models import PipelineStage, Project, VectorShard

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("boss", is_staff=True))
    return client


def unchanged(project: Project) -> bool:
    project.refresh_from_db()
    return project.state == "draft" and not project.stages.exists() and not project.tasks.exists()


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"target_modality": "point_cloud"}, "target_modality", "embeds text-image pairs, not point_cloud"),
        ({"sample_size": 1000}, "sample_size", "cannot sample 1000"),
        ({"sample_size": 92, "item_cap": 1}, "item_cap", "need 276"),
        ({"space": "t-points", "k": 16, "item_cap": 50}, "k", "only 6 point_cloud items"),
        ({"candidates_per_task": 5, "k": 4}, "candidates_per_task", "cannot choose 5 candidates from the top 4"),
        ({"nsfw_thresholds": {"profanity": 3}}, "nsfw_thresholds", "between 0 and 1"),
        ({"curation": {"clusters": [5, 10]}}, "curation", "at most as many clusters"),
    ],
)
def test_invalid_settings_are_refused_with_field_errors(admin, make_project, fields, field, words):
    project = make_project(**fields)
    response = admin.post(f"/api/projects/{project.id}/launch/")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_project"
    assert any(words in message for message in body["fields"][field]), body
    assert unchanged(project)


def test_non_admins_cannot_launch_or_watch(make_project):
    project = make_project()
    annotator = APIClient()
    annotator.force_authenticate(User.objects.create_user("ann"))
    for path in ("launch", "cancel", "retry"):
        assert annotator.post(f"/api/projects/{project.id}/{path}/").status_code == 403
        assert APIClient().post(f"/api/projects/{project.id}/{path}/").status_code in (401, 403)
    assert annotator.get(f"/api/projects/{project.id}/pipeline/").status_code == 403
    assert unchanged(project)


def test_launch_while_running_or_after_tasks_exist_is_a_conflict(admin, make_project):
    project = make_project()
    Project.objects.filter(pk=project.pk).update(state="launching")
    response = admin.post(f"/api/projects/{project.id}/launch/")
    assert response.status_code == 409 and response.json()["code"] == "launch_running"
    Project.objects.filter(pk=project.pk).update(state="ready")
    response = admin.post(f"/api/projects/{project.id}/launch/")
    assert response.status_code == 409 and response.json()["code"] == "already_launched"
    assert not project.stages.exists()
    assert admin.post("/api/projects/999999/launch/").status_code == 404


def test_failed_stage_shows_its_error_and_retry_completes(
    admin, make_project, imported, running_worker, wait_ready, wait_until
):
    project = make_project(sample_size=20)
    shard = VectorShard.objects.get(space__name="t-image", side="captions")
    hidden = shard.absolute_path.with_suffix(".hidden")
    shard.absolute_path.rename(hidden)

    assert admin.post(f"/api/projects/{project.id}/launch/").status_code == 202
    wait_until(lambda: Project.objects.get(pk=project.pk).state == "failed", 120, 0.2, "the launch to fail")
    pipeline = admin.get(f"/api/projects/{project.id}/pipeline/").json()
    curate = pipeline["stages"][0]
    assert curate["name"] == "curate" and curate["state"] == "failed"
    assert "FileNotFoundError" in curate["error"]
    assert [s["state"] for s in pipeline["stages"][1:]] == ["pending"] * 5

    hidden.rename(shard.absolute_path)
    assert admin.post(f"/api/projects/{project.id}/retry/").status_code == 202
    wait_ready(project)
    pipeline = admin.get(f"/api/projects/{project.id}/pipeline/").json()
    assert pipeline["state"] == "ready" and pipeline["tasks"] == project.tasks.count() > 0
    assert all(stage["state"] == "succeeded" for stage in pipeline["stages"])
    assert pipeline["stages"][0]["attempts"] == 2
    assert admin.post(f"/api/projects/{project.id}/retry/").json()["code"] == "nothing_to_retry"


def test_cancel_stops_a_launch(admin, make_project):
    project = make_project()
    Project.objects.filter(pk=project.pk).update(state="launching")
    PipelineStage.objects.bulk_create(
        [PipelineStage(project=project, name=n, order=i) for i, n in enumerate(["curate", "filter"])]
    )
    response = admin.post(f"/api/projects/{project.id}/cancel/")
    assert response.status_code == 202 and response.json()["state"] == "cancelled"
    assert set(project.stages.values_list("state", flat=True)) == {"cancelled"}
    assert admin.post(f"/api/projects/{project.id}/cancel/").json()["code"] == "not_running"


def test_launch_command_reports_field_errors(make_project):
    project = make_project(sample_size=1000)
    with pytest.raises(CommandError, match="sample_size: the caption pool holds 92 captions"):
        call_command("launch_project", str(project.id))
    assert unchanged(project)
