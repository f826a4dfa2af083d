"""Screening a dataset in this process: statuses and reasons on the items, paths confined
to media storage, re-screening idempotent, the API and the project setting."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.models import Dataset, EmbeddingSpace, Item, ScreeningRun
from annotation.pipeline.validation import project_errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def screened_set(media_cases, media_root):
    """A dataset whose items point at every case's file in media storage, plus remote,
    missing, empty and escaping media values."""
    dataset = Dataset.objects.create(name="screened")
    for name, (modality, path, _) in media_cases.items():
        relative = f"datasets/screened/{name}/{path.name}"
        (media_root / relative).parent.mkdir(parents=True)
        shutil.copy(path, media_root / relative)
        Item.objects.create(dataset=dataset, external_id=name, modality=modality, media=relative)
    os.symlink("/etc/hostname", media_root / "datasets/screened/link.jpg")
    odd = {
        "remote": "https://example.org/a.jpg",
        "s3": "s3://bucket/a.jpg",
        "missing": "datasets/screened/gone.jpg",
        "empty": "",
        "dotdot": "../../../etc/passwd",
        "absolute": "/etc/passwd",
        "symlink-out": "datasets/screened/link.jpg",
    }
    for name, media in odd.items():
        Item.objects.create(dataset=dataset, external_id=name, modality="image", media=media)
    return dataset


def statuses(dataset) -> dict[str, tuple[str, str]]:
    return {i.external_id: (i.screen_status, i.screen_reason) for i in dataset.items.all()}


def test_screen_media_command_flags_each_item_and_rescreens_identically(screened_set, media_cases, capsys):
    call_command("screen_media", "--dataset", "screened", "--no-progress")
    result = statuses(screened_set)
    for name, (_, _, expected) in media_cases.items():
        status, reason = result[name]
        if expected is None:
            assert (status, reason) == ("ok", ""), name
        else:
            assert status == "failed" and expected in reason, (name, reason)
    assert result["remote"] == result["s3"] == ("skipped", "remote media (URL): not probed")
    assert result["missing"] == ("failed", "file not found")
    assert result["empty"] == ("failed", "no media file or URL")
    assert result["dotdot"][0] == result["absolute"][0] == result["symlink-out"][0] == "failed"
    assert "'..'" in result["dotdot"][1] and "absolute" in result["absolute"][1]
    assert "outside" in result["symlink-out"][1]
    assert not any("root:" in reason for _, reason in result.values())  # nothing of /etc/passwd comes back

    counts = json.loads(capsys.readouterr().out)
    n_ok = sum(1 for *_, e in media_cases.values() if e is None)
    assert counts["ok"] == n_ok and counts["skipped"] == 2
    assert counts["failed"] == len(media_cases) - n_ok + 5 and counts["pending"] == 0
    first_times = dict(screened_set.items.values_list("external_id", "screened_at"))

    call_command("screen_media", "--dataset", "screened", "--no-progress")
    assert statuses(screened_set) == result
    assert json.loads(capsys.readouterr().out)["failed"] == counts["failed"]
    again = dict(screened_set.items.values_list("external_id", "screened_at"))
    assert all(again[e] > first_times[e] for e in first_times if e not in ("remote", "s3"))
    assert again["remote"] == first_times["remote"]  # remote items are marked once, not rewritten
    assert ScreeningRun.objects.filter(dataset=screened_set, state="succeeded").count() == 2


def test_screen_media_unknown_dataset_is_an_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no dataset 'nope'"):
        call_command("screen_media", "--dataset", "nope", "--no-progress")


def test_screening_api_lists_failures_for_admins_only(screened_set):
    call_command("screen_media", "--dataset", "screened", "--no-progress")
    admin = APIClient()
    admin.force_authenticate(User.objects.create_user("boss", is_staff=True))
    body = admin.get(f"/api/datasets/{screened_set.id}/screening/").json()
    failed = {row["external_id"]: row["screen_reason"] for row in body["failed"]}
    assert body["counts"]["failed"] == len(failed) and "variable frame rate" in failed["variable-rate"]
    assert "coco-a" not in failed and body["run"]["state"] == "succeeded" and body["run"]["parts"] >= 1
    assert len(admin.get(f"/api/datasets/{screened_set.id}/screening/?limit=2").json()["failed"]) == 2
    for bad in ("0", "501", "abc", "1e999"):
        response = admin.get(f"/api/datasets/{screened_set.id}/screening/?limit={bad}")
        assert response.status_code == 400 and "limit" in response.content.decode(), bad

    annotator = APIClient()
    annotator.force_authenticate(User.objects.create_user("ann"))
    assert annotator.get(f"/api/datasets/{screened_set.id}/screening/").status_code == 403
    assert annotator.post(f"/api/datasets/{screened_set.id}/screening/").status_code == 403
    assert admin.get("/api/datasets/999999/screening/").status_code == 404


def test_failed_media_count_in_project_validation(screened_set):
    call_command("screen_media", "--dataset", "screened", "--no-progress")
    space = EmbeddingSpace.objects.create(name="v", model_name="m", dim=2, target_modality="video")
    from annotation.models import ItemVector, VectorShard

    shard = VectorShard.objects.create(space=space, side="items", path="x.npy", rows=10, sha256="0")
    videos = screened_set.items.filter(modality="video", screen_status="failed")
    ItemVector.objects.bulk_create(
        [ItemVector(space=space, item=item, shard=shard, row=i) for i, item in enumerate(videos)]
    )
    data = {
        "space": space,
        "target_modality": "video",
        "caption_datasets": [screened_set],
        "sample_size": 1,
        "item_cap": 1,
        "k": 1,
        "candidates_per_task": 1,
    }
    assert "every video item in 'v' failed media screening" in project_errors(data)["include_failed_media"][0]
    assert "include_failed_media" not in project_errors({**data, "include_failed_media": True})
    assert project_errors({**data, "include_failed_media": "yes"})["include_failed_media"] == ["true or false"]


def test_redelivered_tasks_change_nothing(screened_set, settings):
    """acks_late redelivery: a finished run plans no parts, a done part is skipped, and a
    redelivered import task finds its screening run instead of queuing another."""
    from annotation.models import ImportRun
    from annotation.screening import runs

    settings.PAIRRATE_SCREEN_PART_ITEMS = 5
    run = runs.start(screened_set, queue=False)
    parts = runs.plan(run.pk, queue=False)
    local = screened_set.items.exclude(external_id__in=["remote", "s3"]).count()  # URLs are marked, not parted
    assert parts == list(range(-(-local // 5)))
    assert runs.plan(run.pk, queue=False) == parts  # re-planned: same parts, none done yet
    assert runs.screen_part(run.pk, 0) is not None
    before = statuses(screened_set)
    assert runs.screen_part(run.pk, 0) is None and statuses(screened_set) == before
    assert runs.plan(run.pk, queue=False) == parts[1:]
    for index in parts[1:]:
        runs.screen_part(run.pk, index)
    run.refresh_from_db()
    assert run.state == "succeeded" and runs.plan(run.pk, queue=False) == []

    imported = ImportRun.objects.create(dataset_name="screened", source="/tmp/x", state="succeeded")
    first = runs.after_import(imported.pk)
    assert runs.after_import(imported.pk) == first and ScreeningRun.objects.filter(import_run=imported).count() == 1
    settings.PAIRRATE_SCREEN_AFTER_IMPORT = False
    assert runs.after_import(ImportRun.objects.create(dataset_name="screened", state="succeeded").pk) is None


def test_admin_shows_and_filters_screen_status(screened_set, client):
    call_command("screen_media", "--dataset", "screened", "--no-progress")
    client.force_login(User.objects.create_superuser("root", password="pw"))
    failed = client.get("/admin/annotation/item/?screen_status__exact=failed").content.decode()
    assert "variable frame rate" in failed and "corrupt JPEG" in failed and ">coco-a<" not in failed
    listing = client.get("/admin/annotation/item/?screen_status__exact=ok").content.decode()
    assert ">coco-a<" in listing and "variable-rate" not in listing
    assert "succeeded" in client.get("/admin/annotation/screeningrun/").content.decode()
