"""The whole path on the object store with nothing shared but PostgreSQL, Redis and the bucket.

The test process is the web server; the worker is another process with its own MEDIA_ROOT
and cache. A bundle is uploaded, imported, launched (curate to media, point-cloud renders
included), rated and exported, first on the local file system (one shared folder, as a
single machine runs), then on the object store. Both give the same tasks; an export of the
same ratings is byte-identical on both; annotators' media and downloads come from the
bucket through presigned URLs.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.annotation.workflow_setup import client_for
from tests.importing.test_import_api import zipped
from tests.objectstore import SECRET_KEY
from tests.pipeline.conftest import _task_signature
from tests.storage.s3_workers import start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
DIM = 16
FORMATS = ("jsonl", "parquet")


def _bundle(root: Path) -> Path:
    """Six point clouds (rendered by the media stage) and a few images, all with local media."""
    rng = np.random.default_rng(11)
    (root / "media").mkdir(parents=True)
    items = []
    for i in range(4):
        points = rng.normal(size=(4000, 3)).astype(np.float32) * [1.0, 0.3 + 0.2 * i, 0.5]
        np.save(root / "media" / f"cloud{i}.npy", points)
        items.append({"id": f"cloud{i}", "modality": "point_cloud", "media": f"media/cloud{i}.npy"})
    captions = [{"id": f"cap{i}", "text": f"a small object number {i}", "source_modality": "image"} for i in range(12)]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (root / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in captions))
    np.save(root / "captions.npy", rng.normal(size=(len(captions), DIM)).astype(np.float32))
    np.save(root / "clouds.npy", rng.normal(size=(len(items), DIM)).astype(np.float32))
    (root / "captions.ids.txt").write_text("".join(r["id"] + "\n" for r in captions))
    (root / "clouds.ids.txt").write_text("".join(r["id"] + "\n" for r in items))
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": "shared-nothing",
                "media": "local",
                "items": "items.jsonl",
                "captions": "captions.jsonl",
                "embeddings": [
                    {
                        "space": "sn-points",
                        "model": "toy",
                        "dim": DIM,
                        "target_modality": "point_cloud",
                        "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                        "items": {"vectors": "clouds.npy", "ids": "clouds.ids.txt"},
                    }
                ],
            }
        )
    )
    return root


def _fetch(client: APIClient, url: str) -> bytes:
    """GET through the web app; a redirect to a presigned URL is followed outside it."""
    response = client.get(url)
    if response.status_code == 302:
        location = response["Location"]
        assert location.startswith("http://127.0.0.1:8333/"), location  # the bucket, not this server
        with urllib.request.urlopen(location) as got:
            return got.read()
    assert response.status_code == 200, (url, response.status_code)
    return b"".join(response.streaming_content) if response.streaming else response.content


def _run_path(admin: APIClient, annotator: APIClient, bundle: Path, name: str):
    """Import, launch, rate; returns the project."""
    from annotation.models import Dataset, EmbeddingSpace, Project

    run = admin.post("/api/imports/", {"bundle": zipped(bundle)}, format="multipart")
    assert run.status_code == 202, run.content
    status = wait_for(
        lambda: admin.get(f"/api/imports/{run.json()['id']}/").json(),
        lambda s: s["state"] in ("succeeded", "failed"),
        timeout=180,
        what="import",
    )
    assert status["state"] == "succeeded", status
    project = Project.objects.create(
        name=name,
        space=EmbeddingSpace.objects.get(name="sn-points"),
        target_modality="point_cloud",
        sample_size=6,
        item_cap=8,
        seed=5,
        k=4,
        candidates_per_task=2,
        annotators_per_task=1,
    )
    project.caption_datasets.set(Dataset.objects.filter(name="shared-nothing"))
    from annotation.models import ProjectMember

    ProjectMember.objects.create(project=project, user=get_user_model().objects.get(username="rater"))
    assert admin.post(f"/api/projects/{project.id}/launch/").status_code == 202
    wait_for(lambda: Project.objects.get(pk=project.pk).state, lambda s: s != Project.State.LAUNCHING, 180, "launch")
    project.refresh_from_db()
    assert project.state == Project.State.READY, {s.name: s.error for s in project.stages.all()}
    payloads = []
    while (response := annotator.post(f"/api/projects/{project.id}/assignments/next/")).status_code == 200:
        payload = response.json()
        payloads.append(payload)
        ratings = [
            {"candidate": c["id"], "label": ("good", "bad")[slot % 2]} for slot, c in enumerate(payload["candidates"])
        ]
        assert (
            annotator.post(f"/api/assignments/{payload['id']}/submit/", {"ratings": ratings}, format="json").status_code
            == 200
        )
    assert len(payloads) == 6
    return project, payloads


def _export(admin: APIClient, project, fmt: str) -> tuple[bytes, str]:
    response = admin.post(f"/api/projects/{project.pk}/exports/", {"format": fmt}, format="json")
    assert response.status_code == 202, response.content
    data = wait_for(
        lambda: admin.get(f"/api/exports/{response.json()['id']}/").json(),
        lambda d: d["state"] in ("succeeded", "failed"),
        timeout=180,
        what="export",
    )
    assert data["state"] == "succeeded", data
    body = _fetch(admin, f"/api/exports/{data['id']}/download/")
    assert hashlib.sha256(body).hexdigest() == data["sha256"]
    return body, data["sha256"]


def test_import_launch_rate_export_share_nothing_but_database_broker_and_bucket(
    running_worker, worker_env, object_store, settings, tmp_path
):
    from annotation.models import Project
    from tasks.celery_app import app

    bundle = _bundle(tmp_path / "bundle")
    User = get_user_model()
    admin = client_for(User.objects.create_user("boss", is_staff=True))
    annotator = client_for(User.objects.create_user("rater"))
    s3_settings = {
        name: getattr(settings, name)
        for name in ("PAIRRATE_STORAGE_URL", "PAIRRATE_S3_ENDPOINT_URL", "PAIRRATE_STORAGE_CACHE_DIR")
    }

    # 1. One machine: the local backend, web and worker on one folder (today's deployment).
    settings.PAIRRATE_STORAGE_URL = ""
    settings.MEDIA_ROOT = running_worker.media_root
    local_project, _ = _run_path(admin, annotator, bundle, "on-disk")
    local_exports = {fmt: _export(admin, local_project, fmt) for fmt in FORMATS}

    # 2. Shared nothing: the web (this process) and the worker each have their own folder.
    settings.MEDIA_ROOT = tmp_path / "web-scratch"
    for name, value in s3_settings.items():
        setattr(settings, name, value)
    worker = start_worker(worker_env, object_store, tmp_path / "s3-worker", "s3-worker")
    try:
        bucket_project, payloads = _run_path(admin, annotator, bundle, "in-bucket")
        same_ratings = {fmt: _export(admin, local_project, fmt) for fmt in FORMATS}
        stats = app.control.broadcast(
            "storage_cache",
            reply=True,
            timeout=5,
            destination=[n for reply in app.control.ping(timeout=1) for n in reply if "s3-worker" in n],
        )
    finally:
        worker.stop()

    assert _task_signature(bucket_project) == _task_signature(local_project)
    for fmt in FORMATS:  # the same ratings export to the same bytes, whichever the storage
        assert same_ratings[fmt] == local_exports[fmt], fmt
    [[(_, cache)]] = [list(reply.items()) for reply in stats]
    # The worker read its shards and media through its cache (its own uploads were kept there).
    assert cache["backend"] == "s3" and cache["hits"] + cache["misses"] >= 1 and cache["entries"] >= 1, cache

    # Nothing of the bucket run reached the local folders: renders and shards are objects.
    store_names = set(storage_names(object_store))
    renders = {n for n in store_names if n.startswith("renders/")}
    assert renders, sorted(store_names)[:20]
    assert any(n.startswith("vectors/") for n in store_names)
    assert not (tmp_path / "web-scratch" / "renders").exists()
    # Annotators' media and renders come from the bucket through presigned URLs.
    originals = {path.read_bytes() for path in (bundle / "media").iterdir()}
    for payload in payloads:
        for candidate in payload["candidates"]:
            assert _fetch(annotator, candidate["media_url"]) in originals
            sheet = candidate.get("renders", {}).get("sheet")
            assert sheet, candidate  # the media stage rendered every candidate cloud
            assert _fetch(annotator, sheet)[:4] in (b"\x89PNG", b"RIFF")  # a PNG or WebP sheet
    assert Project.objects.get(pk=bucket_project.pk).state == Project.State.READY
    # The credentials never show: not in the worker's log, not in what the API answers.
    assert SECRET_KEY not in worker.log_path.read_text()
    for url in (
        f"/api/projects/{bucket_project.pk}/",
        f"/api/projects/{bucket_project.pk}/pipeline/",
        "/api/exports/",
        "/api/imports/",
    ):
        response = admin.get(url)
        assert response.status_code == 200 and SECRET_KEY.encode() not in response.content, url


def storage_names(object_store) -> list[str]:
    from tests.objectstore import client

    s3 = client(object_store["PAIRRATE_S3_ENDPOINT_URL"])
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=object_store["bucket"], Prefix=object_store["prefix"] + "/"
    ):
        names += [item["Key"][len(object_store["prefix"]) + 1 :] for item in page.get("Contents", [])]
    return names
