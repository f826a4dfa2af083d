"""Media on the object store: derived media made by a worker that shares only the bucket,
annotators' signed links answered with presigned URLs, media referenced in place in the
bucket (s3://bucket/key) screened and served without being copied under pairrate's prefix."""

from __future__ import annotations

import io
import os
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from annotation import storage
from annotation.media_urls import SALT, signed_url
from tests.annotation.workflow_setup import client_for, join, make_project, make_user, next_task
from tests.objectstore import client as s3_client
from tests.screening.conftest import COCO, SOUNDS, make_clip, truncated

PHOTO = COCO / "000000062554.jpg"


@pytest.fixture
def bucket_worker(request, worker_env, object_store, tmp_path):
    """A worker on the object store with its own MEDIA_ROOT and cache: nothing shared with
    this process but PostgreSQL, Redis and the bucket. The session's shared worker is
    stopped first (one consumer of the test broker; `running_worker` restarts it)."""
    from tasks.celery_app import app
    from tests.conftest import WorkerProcess

    if any(f"test-{os.getpid()}" in name for reply in app.control.ping(timeout=0.5) for name in reply):
        request.getfixturevalue("celery_worker").stop()
    app.control.purge()
    env = {k: v for k, v in object_store.items() if k.isupper()}
    media_root = tmp_path / "worker-scratch"
    env.update(PAIRRATE_MEDIA_ROOT=str(media_root), PAIRRATE_STORAGE_CACHE_DIR=str(tmp_path / "worker-cache"))
    worker = WorkerProcess(dict(worker_env, **env), tmp_path / "bucket-worker.log", "bucket-media").start()
    worker.media_root = media_root
    yield worker
    worker.stop()


@pytest.fixture
def in_place(object_store):
    """put(name, data) -> an s3:// URL in the test bucket, outside pairrate's prefix."""
    s3, bucket = s3_client(object_store["PAIRRATE_S3_ENDPOINT_URL"]), object_store["bucket"]
    keys = []

    def put(name: str, data: bytes) -> str:
        key = f"{object_store['prefix']}-in-place/{name}"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        keys.append(key)
        return f"s3://{bucket}/{key}"

    yield put
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)


def stored(name: str, source: Path) -> str:
    with storage.writing(name) as temp:
        shutil.copyfile(source, temp)
    return name


def names_under_prefix(object_store) -> set[str]:
    s3 = s3_client(object_store["PAIRRATE_S3_ENDPOINT_URL"])
    prefix = object_store["prefix"] + "/"
    return {
        item["Key"][len(prefix) :]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=object_store["bucket"], Prefix=prefix)
        for item in page.get("Contents", [])
    }


def fetch(client, url: str) -> bytes:
    """GET a signed media URL: a 302 to a presigned URL of the bucket, fetched outside the app."""
    response = client.get(url)
    assert response.status_code == 302, (url, response.status_code)
    location = response["Location"]
    assert location.startswith("http://127.0.0.1:8333/"), location
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(storage.media_url_seconds())]
    with urllib.request.urlopen(location) as got:
        return got.read()


def wait_for(predicate, what: str, log: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    return value


@pytest.mark.django_db(transaction=True)
def test_worker_makes_derived_media_as_objects_and_annotators_get_them_from_the_bucket(
    bucket_worker, object_store, in_place, media_root, tmp_path
):
    from annotation.models import Dataset, Item, PipelineStage, Project, ScreeningRun
    from annotation.pipeline import runner
    from annotation.screening import runs

    rng = np.random.default_rng(3)
    np.save(tmp_path / "cloud.npy", rng.normal(size=(3000, 3)).astype(np.float32))
    np.save(tmp_path / "placed.npy", rng.normal(size=(2000, 3)).astype(np.float32) * [1, 0.3, 0.5])
    make_clip(tmp_path / "clip.mp4", [40] * 30)
    sources = {
        "media/cloud.npy": tmp_path / "cloud.npy",
        "media/clip.mp4": tmp_path / "clip.mp4",
        "media/bell.oga": SOUNDS / "bell.oga",
    }
    for name, path in sources.items():
        stored(name, path)
    placed_cloud = in_place("clouds/placed.npy", (tmp_path / "placed.npy").read_bytes())

    project = make_project(n_tasks=1, candidates=6, per_task=1, modality="point_cloud", state="launching")
    items = list(Item.objects.filter(dataset__name="ds").order_by("id"))
    media = [
        ("point_cloud", "media/cloud.npy"),
        ("point_cloud", placed_cloud),
        ("video", "media/clip.mp4"),
        ("audio", "media/bell.oga"),
        ("video", "https://example.org/clip.mp4"),
        ("point_cloud", "../outside.npy"),
    ]
    for item, (modality, value) in zip(items, media):
        Item.objects.filter(pk=item.pk).update(modality=modality, media=value)
    cloud, placed, clip, bell = (item.id for item in items[:4])
    PipelineStage.objects.create(project=project, name="media", order=0)

    runner.dispatch_stage(project.id, "media")
    wait_for(
        lambda: Project.objects.get(pk=project.pk).state != Project.State.LAUNCHING,
        "the media stage",
        bucket_worker.log_path,
    )
    stage = PipelineStage.objects.get(project=project, name="media")
    assert Project.objects.get(pk=project.pk).state == Project.State.READY, stage.error
    assert {k: stage.counts[k] for k in ("items", "made", "remote", "unsafe", "missing")} == {
        "items": 6,
        "made": 4,
        "remote": 1,
        "unsafe": 1,
        "missing": 0,
    }, stage.counts

    names = names_under_prefix(object_store)
    for item_id in (cloud, placed):  # the in-place cloud is rendered from the bucket, its renders are ours
        assert {f"renders/{item_id}/{f}" for f in ("sheet.webp", "points.npy", "view_00.webp", "view_07.webp")} <= names
    assert {f"posters/{clip}.jpg", f"previews/{clip}.mp4", f"waveforms/{bell}.png"} <= names
    assert not any(n.startswith("clouds/") or n.endswith("placed.npy") for n in names)  # not copied in
    assert not any(
        root.exists()
        for root in (media_root / "renders", bucket_worker.media_root / "renders", bucket_worker.media_root / "posters")
    )

    # The annotator's payload: every signed URL is a redirect to the bucket, with the right bytes.
    annotator = make_user("rater")
    join(project, annotator)
    client = client_for(annotator)
    payload = next_task(client, project).json()
    by_item = dict(zip([cloud, placed, clip, bell, items[4].id, items[5].id], payload["candidates"]))
    assert fetch(client, by_item[cloud]["media_url"]) == sources["media/cloud.npy"].read_bytes()
    assert fetch(client, by_item[placed]["media_url"]) == (tmp_path / "placed.npy").read_bytes()
    assert fetch(client, by_item[bell]["media_url"]) == (SOUNDS / "bell.oga").read_bytes()
    for item_id in (cloud, placed):
        renders = by_item[item_id]["renders"]
        assert len(renders["views"]) == 8 and fetch(client, renders["sheet"])[:4] == b"RIFF"
        assert np.load(io.BytesIO(fetch(client, renders["points"]))).shape[1] == 3
    assert fetch(client, by_item[clip]["poster"])[:3] == b"\xff\xd8\xff"
    assert fetch(client, by_item[clip]["preview"])[4:8] == b"ftyp"
    assert fetch(client, by_item[bell]["waveform"])[:4] == b"\x89PNG"
    assert client.get(by_item[items[4].id]["media_url"])["Location"] == "https://example.org/clip.mp4"
    assert client.get(by_item[items[5].id]["media_url"]).status_code == 404  # unsafe: never signed for
    assert "renders" not in by_item[items[5].id]

    # Screening on the worker reads in-place media through its cache; URLs stay unprobed.
    screened = Dataset.objects.create(name="placed")
    cases = {
        "photo": in_place("photos/ok.jpg", PHOTO.read_bytes()),
        "cut": in_place("photos/cut.jpg", truncated(PHOTO, tmp_path / "cut.jpg").read_bytes()),
        "gone": f"s3://{object_store['bucket']}/{object_store['prefix']}-in-place/photos/none.jpg",
        "web": "https://example.org/a.jpg",
        "escape": "../../etc/passwd",
    }
    for name, value in cases.items():
        Item.objects.create(dataset=screened, external_id=name, modality="image", media=value)
    run = runs.start(screened)
    wait_for(
        lambda: ScreeningRun.objects.get(pk=run.pk).state in ("succeeded", "failed"),
        "screening",
        bucket_worker.log_path,
    )
    result = {i.external_id: (i.screen_status, i.screen_reason) for i in screened.items.all()}
    assert result["photo"] == ("ok", "")
    assert result["cut"][0] == "failed" and "truncated" in result["cut"][1]
    assert result["gone"] == ("failed", "file not found")
    assert result["web"] == ("skipped", runs.REMOTE_REASON)
    assert result["escape"][0] == "failed" and "'..'" in result["escape"][1]
    assert not any(n.startswith("photos/") for n in names_under_prefix(object_store))


@pytest.mark.django_db
def test_signed_links_on_the_object_store_redirect_to_presigned_urls_until_they_expire(
    object_store, in_place, settings
):
    client = Client()
    stored("media/bell.oga", SOUNDS / "bell.oga")
    placed = in_place("sounds/bell.oga", (SOUNDS / "bell.oga").read_bytes())
    assert fetch(client, signed_url("media/bell.oga")) == (SOUNDS / "bell.oga").read_bytes()
    assert fetch(client, signed_url(placed)) == (SOUNDS / "bell.oga").read_bytes()
    assert names_under_prefix(object_store) == {"media/bell.oga"}  # in-place media not copied in

    for unsafe in ("../outside.oga", "/etc/passwd", f"s3://{object_store['bucket']}/a/../b.oga"):
        assert client.get(signed_url(unsafe)).status_code == 404, unsafe
    old = signing.dumps("media/bell.oga", salt=SALT, compress=True)
    settings.PAIRRATE_MEDIA_URL_SECONDS = -1  # every token is older than this: the same rule as before
    response = client.get(reverse("signed-media", args=[old]))
    assert (response.status_code, response.content) == (403, b"media link expired")

    settings.PAIRRATE_MEDIA_URL_SECONDS = 3600
    settings.PAIRRATE_STORAGE_URL = ""  # the file system backend cannot reach the bucket: as today
    response = client.get(signed_url(placed))
    assert response.status_code == 404


def test_payload_media_asks_the_store_once_per_item_then_remembers(object_store, monkeypatch):
    """`next` builds 100+ payloads a second: a cloud's ten renders cost one listing, not ten
    lookups, and the answer is remembered (DERIVED_CACHE_SECONDS)."""
    from annotation.media_urls import derived_urls

    with storage.writing_folder("renders/91") as folder:
        for name in [f"view_{v:02d}.webp" for v in range(8)] + ["sheet.webp", "points.npy"]:
            (folder / name).write_bytes(b"x")
    with storage.writing("posters/92.jpg") as temp:
        temp.write_bytes(b"poster")
    store, calls = storage.get_store(), []
    for method in ("list_folder", "head"):  # the real calls, counted
        real = getattr(store, method)
        monkeypatch.setattr(store, method, lambda *a, _real=real, _name=method: calls.append(_name) or _real(*a))

    renders = derived_urls(91, "point_cloud")["renders"]
    assert len(renders["views"]) == 8 and renders["sheet"] and renders["points"] and calls == ["list_folder"]
    assert derived_urls(91, "point_cloud").keys() == {"renders"} and calls == ["list_folder"]
    assert derived_urls(92, "video").keys() == {"poster"} and calls == ["list_folder", "head", "head"]
    assert derived_urls(93, "image") == {} and len(calls) == 3
