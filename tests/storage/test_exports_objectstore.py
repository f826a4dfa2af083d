"""Exports on the object store, written by a worker that shares nothing with the web process
but PostgreSQL, Redis and the bucket: each export is one object holding exactly the bytes
the same export gives on the local file system (its sha256 kept with it), and a download
is a redirect to a presigned URL of that object."""

from __future__ import annotations

import hashlib

import pytest

from annotation import storage
from annotation.export import create_run, execute_run
from tests.export.builders import build_world
from tests.storage.s3_workers import admin_client, object_bytes, presigned_download, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CASES = [("csv", {}), ("pairs", {"shard_size": 2})]  # a table, and a tar of WebDataset shards


def local_exports(settings, projects) -> dict:
    """The reference: the same exports on the local backend, in this process."""
    url, settings.PAIRRATE_STORAGE_URL = settings.PAIRRATE_STORAGE_URL, ""
    try:
        runs = [execute_run(create_run([p.pk for p in projects], fmt, options=options).pk) for fmt, options in CASES]
        return {fmt: (run.absolute_path.read_bytes(), run.sha256) for (fmt, _), run in zip(CASES, runs)}
    finally:
        settings.PAIRRATE_STORAGE_URL = url


def test_worker_export_is_one_object_equal_to_the_local_export(object_store, worker_env, settings, tmp_path):
    world = build_world()
    projects = [world.three, world.single]
    reference = local_exports(settings, projects)
    settings.MEDIA_ROOT = tmp_path / "web-scratch"  # nothing the worker wrote can be read from disk
    admin = admin_client()
    worker = start_worker(worker_env, object_store, tmp_path / "worker", "s3-export")
    try:
        started = [
            admin.post(
                "/api/exports/",
                {"format": fmt, "options": options, "projects": [p.pk for p in projects]},
                format="json",
            )
            for fmt, options in CASES
        ]
        assert all(r.status_code == 202 for r in started), [r.content for r in started]
        done = [
            wait_for(
                lambda r=r: admin.get(f"/api/exports/{r.json()['id']}/").json(),
                lambda d: d["state"] in ("succeeded", "failed"),
                what="export",
            )
            for r in started
        ]
    finally:
        worker.stop()
    from annotation.models import ExportRun

    for (fmt, _), data in zip(CASES, done):
        body, sha256 = reference[fmt]
        assert data["state"] == "succeeded", data
        assert data["sha256"] == sha256 == hashlib.sha256(body).hexdigest() and data["size_bytes"] == len(body)
        run = ExportRun.objects.get(pk=data["id"])
        stored, metadata = object_bytes(object_store, run.file_path)
        assert stored == body and metadata["sha256"] == sha256, fmt
        downloaded = presigned_download(
            admin,
            f"/api/exports/{run.pk}/download/",
            object_store["PAIRRATE_S3_ENDPOINT_URL"],
            storage.media_url_seconds(),
        )
        assert downloaded == body, fmt
        assert admin.get(f"/api/exports/{run.pk}/download/")["X-Checksum-SHA256"] == sha256
    assert not (tmp_path / "web-scratch" / "exports").exists()
    leftovers = list((tmp_path / "worker" / "media").rglob(".tmp-*"))
    assert not leftovers, leftovers  # the worker's temp files went with the upload


def test_an_export_whose_object_is_gone_is_not_served(object_store, settings):
    world = build_world()
    run = execute_run(create_run([world.three.pk], "jsonl").pk)
    assert run.state == "succeeded" and storage.exists(run.file_path)
    admin = admin_client()
    assert admin.get(f"/api/exports/{run.pk}/download/").status_code == 302
    storage.delete(run.file_path)
    refused = admin.get(f"/api/exports/{run.pk}/download/")
    assert refused.status_code == 409 and refused.json()["code"] == "not_ready"
    again = execute_run(run.pk)  # a redelivered task writes it again: same bytes
    assert again.sha256 == run.sha256 and storage.get_store().sha256(run.file_path) == run.sha256
