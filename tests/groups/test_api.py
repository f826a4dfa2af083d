"""/api/groups/: admins start, follow, cancel, retry and download builds; bad requests
are refused with clear field errors and change nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotation.groups import create_build
from annotation.models import GroupsBuild, GroupsPart

from .conftest import wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("boss", is_staff=True))
    return client


def test_admin_builds_follows_and_downloads(admin, imported_groups, settings, running_worker):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 20
    response = admin.post(
        "/api/groups/",
        {"datasets": ["groupset"], "spaces": {"image": "g-image", "point_cloud": "g-points"}, "k": 3, "name": "first"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["spaces"] == {"image": "g-image", "point_cloud": "g-points"} and body["k"] == 3
    assert (body["method"], body["nlist"], body["nprobe"]) == ("exact", None, None)  # IVF's defaults: blank
    build = wait_settled(GroupsBuild.objects.get(pk=body["id"]))
    assert build.state == "succeeded", build.error
    detail = admin.get(f"/api/groups/{build.pk}/").json()
    assert detail["state"] == "succeeded" and detail["progress"] == 1.0 and detail["counts"]["captions"] == 45
    record = detail["files"]["csv/nn_2/data_groups.csv"]
    download = admin.get(record["url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == record["sha256"] == download["X-Checksum-SHA256"]
    assert (
        content.startswith(
            b"encord_text_id,encord_video_id,encord_audio_id,encord_image_id,encord_points_id,nn_index\n"
        )
        and content.count(b"\n") == 46
    )
    for name in ("../../../etc/passwd", "csv/nn_9/data_groups.csv", str(build.output_folder / "SHA256SUMS")):
        assert admin.get(f"/api/groups/{build.pk}/download/", {"file": name}).status_code == 404
    assert admin.post(f"/api/groups/{build.pk}/cancel/").status_code == 409
    assert admin.post(f"/api/groups/{build.pk}/retry/").json()["code"] == "nothing_to_retry"


def test_bad_requests_are_refused_and_change_nothing(admin, imported_groups, media_root):
    good = {"datasets": ["groupset"], "spaces": {"image": "g-image"}, "k": 4}
    cases = [
        ({"spaces": {"image": "g-audio"}}, "spaces.image", "embeds text-audio pairs, not text-image"),
        ({"spaces": {"smell": "g-audio"}}, "spaces.smell", "not a target modality"),
        ({"spaces": {"point_cloud": "g-points"}, "k": 18}, "k", "only 17 point_cloud items"),
        (
            {"spaces": {"audio": "g-audio-b"}, "caption_source_modalities": ["audio"]},
            "spaces.audio",
            "no caption of the pool has a vector in space 'g-audio-b'",
        ),
        ({"datasets": ["nope"]}, "datasets", "no dataset 'nope'"),
        ({"method": "lsh"}, "method", "one of exact, ivf"),
        ({"spaces": {}}, "spaces", "map at least one target modality"),
        ({"nprobe": 2**40}, "nprobe", "an integer between 1 and 1048576"),
        ({"seed": 2**70}, "seed", "a 64-bit integer"),
    ]
    for change, field, message in cases:
        response = admin.post("/api/groups/", {**good, **change}, format="json")
        assert response.status_code == 400, (change, response.json())
        body = response.json()
        assert body["code"] == "invalid_groups" and any(message in m for m in body["fields"][field]), body
    assert not GroupsBuild.objects.exists() and not GroupsPart.objects.exists()

    pending = create_build(["groupset"], {"audio": "g-audio"}, k=2)  # not dispatched: stays pending
    response = admin.post("/api/groups/", good, format="json")
    assert response.status_code == 409 and response.json()["code"] == "build_running"
    assert list(GroupsBuild.objects.values_list("pk", flat=True)) == [pending.pk]
    assert not (media_root / "groups").exists()

    annotator = APIClient()
    annotator.force_authenticate(User.objects.create_user("ann"))
    assert annotator.post("/api/groups/", good, format="json").status_code == 403
    assert annotator.get(f"/api/groups/{pending.pk}/").status_code == 403


def test_cancel_then_retry_finishes_with_the_same_groups(admin, imported_groups, settings, running_worker):
    from annotation.groups import runner

    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 20
    build = create_build(["groupset"], {"audio": "g-audio"}, k=3)
    assert admin.post(f"/api/groups/{build.pk}/cancel/").json()["state"] == "cancelled"
    runner.run_plan(build.pk)  # a delivery after the cancel does nothing
    assert not build.parts.exists()
    response = admin.post(f"/api/groups/{build.pk}/retry/")
    assert response.status_code == 202 and response.json()["state"] == "running"
    build = wait_settled(build)
    assert build.state == "succeeded", build.error
    assert build.files["csv/nn_3/data_groups.csv"]["rows"] == 45


def test_pairs_requests_are_checked_and_store_nothing(admin, imported_groups, tmp_path, settings):
    from annotation.models import Dataset, EmbeddingSpace, Project, ProjectGroups

    project = Project.objects.create(
        name="pairs",
        space=EmbeddingSpace.objects.get(name="g-image"),
        target_modality="image",
        sample_size=1,
        item_cap=10,
    )
    project.caption_datasets.set(Dataset.objects.filter(name="groupset"))
    outside = admin.post("/api/groups/pairs/", {"project": project.pk, "path": "/etc/passwd"}, format="json")
    assert outside.status_code == 400 and "outside the import folders" in outside.json()["fields"]["path"][0]
    pairs = tmp_path / "pairs.csv"  # tmp_path lies under /tmp, an import root in tests
    pairs.write_text("caption_id,item_id,rank\ncap001,images-001,zero\n")
    bad = admin.post("/api/groups/pairs/", {"project": project.pk, "path": str(pairs)}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"] == [
        {"file": "pairs.csv", "line": 2, "column": "rank", "message": "an integer"}
    ]
    pairs.write_text("caption_id,item_id\ncap001,images-001\ncap002,images-002\n")
    good = admin.post("/api/groups/pairs/", {"project": project.pk, "path": str(pairs)}, format="json")
    assert good.status_code == 202 and good.json()["counts"]["pairs"] == 2
    assert ProjectGroups.objects.get(project=project).build_id == good.json()["id"]
    assert GroupsBuild.objects.count() == 1
