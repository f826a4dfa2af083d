"""Next task: leases, no repeats, slot limits, expiry without cron, skip, undo, media URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Assignment, PairResult, Project, Rating, Task
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all

pytestmark = pytest.mark.django_db


def expire(assignment_id):
    Assignment.objects.filter(pk=assignment_id).update(leased_until=timezone.now() - timedelta(seconds=1))


def test_next_gives_caption_candidates_and_lease(annotators):
    project = make_project(n_tasks=2, lease_seconds=300)
    join(project, annotators[0])
    response = next_task(client_for(annotators[0]), project)
    assert response.status_code == 200
    body = response.json()
    assert body["caption"]["text"] in {"caption 0", "caption 1"}
    assert [c["slot"] for c in body["candidates"]] == [0, 1, 2]
    assert all(c["media_url"].startswith("/api/media/") for c in body["candidates"])
    assert body["paired_item"]["modality"] == "image"
    assert body["instructions"] == project.instructions
    expires = Assignment.objects.get(pk=body["id"]).leased_until
    assert timedelta(seconds=295) < expires - timezone.now() <= timedelta(seconds=300)
    for hidden in ("similarity", "retrieval_rank", "gold", "is_gold", "task"):
        assert hidden not in body and all(hidden not in c for c in body["candidates"])


def test_next_repeats_the_live_lease(annotators):
    project = make_project()
    join(project, annotators[0])
    client = client_for(annotators[0])
    first = next_task(client, project).json()
    assert next_task(client, project).json()["id"] == first["id"]
    assert Assignment.objects.count() == 1


def test_no_task_twice_and_204_when_done(annotators):
    project = make_project(n_tasks=2, per_task=3)
    join(project, annotators[0])
    client = client_for(annotators[0])
    seen = []
    for _ in range(2):
        payload = next_task(client, project).json()
        seen.append(Assignment.objects.get(pk=payload["id"]).task_id)
        assert rate_all(client, payload).status_code == 200
    assert len(set(seen)) == 2
    assert next_task(client, project).status_code == 204


def test_task_never_gets_more_annotators_than_asked(annotators):
    project = make_project(n_tasks=1, per_task=3)
    join(project, *annotators[:4])
    codes = [next_task(client_for(a), project).status_code for a in annotators[:4]]
    assert codes == [200, 200, 200, 204]
    assert Task.objects.get().open_slots == 0


def test_prefers_tasks_that_already_have_annotators(annotators):
    project = make_project(n_tasks=5, per_task=3)
    join(project, *annotators[:3])
    tasks = [Assignment.objects.get(pk=next_task(client_for(a), project).json()["id"]).task_id for a in annotators[:3]]
    assert len(set(tasks)) == 1


def test_project_not_ready_paused_member_and_non_member(annotators, admin):
    project = make_project(state=Project.State.LAUNCHING)
    join(project, annotators[0], annotators[1])
    response = next_task(client_for(annotators[0]), project)
    assert (response.status_code, response.json()["code"]) == (409, "project_not_ready")
    Project.objects.filter(pk=project.pk).update(state=Project.State.READY)
    project.memberships.filter(user=annotators[1]).update(paused=True)
    response = next_task(client_for(annotators[1]), project)
    assert (response.status_code, response.json()["code"]) == (403, "member_paused")
    response = next_task(client_for(admin), project)
    assert (response.status_code, response.json()["code"]) == (403, "not_a_member")
    assert Assignment.objects.count() == 0


def test_expired_lease_is_taken_over_and_late_submit_refused(annotators):
    project = make_project(n_tasks=1, per_task=1)
    join(project, *annotators[:2])
    a, b = client_for(annotators[0]), client_for(annotators[1])
    first = next_task(a, project).json()
    assert next_task(b, project).status_code == 204
    expire(first["id"])
    second = next_task(b, project).json()
    assert Assignment.objects.get(pk=second["id"]).task_id == Assignment.objects.get(pk=first["id"]).task_id
    assert Assignment.objects.get(pk=first["id"]).state == "expired"
    response = rate_all(a, first)
    assert (response.status_code, response.json()["code"]) == (409, "lease_expired")
    assert Rating.objects.count() == 0
    assert rate_all(b, second).status_code == 200
    assert Task.objects.get().open_slots == 0


def test_late_submit_frees_the_slot(annotators):
    project = make_project(n_tasks=1, per_task=1)
    join(project, *annotators[:2])
    a = client_for(annotators[0])
    first = next_task(a, project).json()
    expire(first["id"])
    assert rate_all(a, first).json()["code"] == "lease_expired"
    assert Task.objects.get().open_slots == 1
    assert next_task(client_for(annotators[1]), project).status_code == 200


def test_own_expired_lease_is_renewed_when_nobody_took_it(annotators):
    project = make_project(n_tasks=2)
    join(project, annotators[0])
    client = client_for(annotators[0])
    first = next_task(client, project).json()
    expire(first["id"])
    again = next_task(client, project).json()
    assert again["id"] == first["id"]
    assert Assignment.objects.get(pk=first["id"]).leased_until > timezone.now()
    assert rate_all(client, again).status_code == 200


def test_skip_gives_the_slot_to_someone_else(annotators):
    project = make_project(n_tasks=1, per_task=1)
    join(project, *annotators[:2])
    a = client_for(annotators[0])
    payload = next_task(a, project).json()
    assert a.post(f"/api/assignments/{payload['id']}/skip/").json()["state"] == "skipped"
    assert next_task(a, project).status_code == 204
    assert next_task(client_for(annotators[1]), project).status_code == 200


def test_undo_reopens_last_submission_only(annotators):
    project = make_project(n_tasks=2, per_task=1)
    join(project, annotators[0])
    client = client_for(annotators[0])
    first = next_task(client, project).json()
    rate_all(client, first)
    second = next_task(client, project).json()
    rate_all(client, second, "bad")
    response = client.post(f"/api/assignments/{first['id']}/undo/")
    assert (response.status_code, response.json()["code"]) == (409, "not_last_submission")
    response = client.post(f"/api/assignments/{second['id']}/undo/")
    assert response.status_code == 200 and response.json()["state"] == "leased"
    assert not Rating.objects.filter(assignment=second["id"]).exists()
    assert PairResult.objects.filter(task=Assignment.objects.get(pk=second["id"]).task_id).count() == 0
    assert rate_all(client, second, "good").status_code == 200
    assert set(
        PairResult.objects.filter(task=Assignment.objects.get(pk=second["id"]).task_id).values_list("label", flat=True)
    ) == {"good"}
    expire(second["id"])
    response = client.post(f"/api/assignments/{second['id']}/undo/")
    assert (response.status_code, response.json()["code"]) == (409, "lease_expired")


def test_signed_media_urls(annotators, media_root, client, settings):
    project = make_project(n_tasks=1, modality="point_cloud")
    item = project.tasks.get().candidates.get(slot=0).item
    (media_root / "media").mkdir()
    (media_root / item.media).write_bytes(b"points")
    renders = media_root / "renders" / str(item.pk)
    renders.mkdir(parents=True)
    for name in ("view_00.webp", "view_01.webp", "sheet.webp", "points.npy"):
        (renders / name).write_bytes(name.encode())
    other = project.tasks.get().candidates.get(slot=1).item
    other.media = "https://example.org/cloud.ply"
    other.save()
    join(project, annotators[0])
    body = next_task(client_for(annotators[0]), project).json()
    first, second, third = body["candidates"]
    assert len(first["renders"]["views"]) == 2
    assert b"".join(client.get(first["renders"]["sheet"]).streaming_content) == b"sheet.webp"
    assert b"".join(client.get(first["renders"]["points"]).streaming_content) == b"points.npy"  # for the 3D view
    assert b"".join(client.get(first["media_url"]).streaming_content) == b"points"
    assert "renders" not in second
    assert client.get(second["media_url"])["Location"] == "https://example.org/cloud.ply"
    assert client.get(third["media_url"]).status_code == 404  # signed, but the file is not there
    tampered = first["media_url"].replace("/api/media/", "/api/media/x")
    assert client.get(tampered).status_code == 403
    settings.PAIRRATE_MEDIA_URL_SECONDS = -1
    assert client.get(first["media_url"]).status_code == 403


@pytest.mark.parametrize(
    "modality, files",
    [
        ("video", {"poster": "posters/{id}.jpg", "preview": "previews/{id}.mp4"}),
        ("audio", {"waveform": "waveforms/{id}.png"}),
    ],
)
def test_derived_media_urls_for_video_and_audio(annotators, media_root, client, modality, files):
    """Posters, previews and waveforms the pipeline made are handed out, signed; missing ones are not."""
    project = make_project(n_tasks=1, modality=modality)
    item = project.tasks.get().candidates.get(slot=0).item
    for key, pattern in files.items():
        path = media_root / pattern.format(id=item.pk)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())
    join(project, annotators[0])
    first, second, _ = next_task(client_for(annotators[0]), project).json()["candidates"]
    for key in files:
        assert b"".join(client.get(first[key]).streaming_content) == key.encode()
    assert not set(files) & set(second)
