"""An export on the object store rides out a store outage: stopped and started again while
the worker publishes, the export stays unfinished (never listed as done, not downloadable)
and then completes with the same bytes; an outage longer than the retry window fails the
run (recorded, retry-able), and the retried run is complete and identical.

Runs on its own SeaweedFS instance, never the shared one: 17xxx ports, clear of the shared
store's and tests/faults' instance's (each also listens on its ports + 10000 for gRPC)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from annotation.export import create_run, execute_run
from annotation.models import ExportRun
from annotation.storage import StorageUnavailable
from tests.export.builders import build_world
from tests.objectstore import SeaweedServer, new_bucket, storage_env
from tests.storage.s3_workers import admin_client, object_bytes, point_settings_at, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
PAUSE_SECONDS = 3  # the worker holds the export this long before writing (the drill pause)


@pytest.fixture
def own_store(tmp_path):
    server = SeaweedServer(
        tmp_path / "weed", s3_port=17433, master_port=17333, volume_port=17080, filer_port=17888
    ).start()
    bucket = new_bucket(server.endpoint)
    env = dict(storage_env(server.endpoint, bucket, "outage", tmp_path / "web-cache"), bucket=bucket, prefix="outage")
    try:
        yield server, env
    finally:
        crash(server)


def crash(server: SeaweedServer) -> None:
    """The store goes away at once (SIGKILL: a graceful stop spends 15 s on its gRPC)."""
    if server.process and server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    server.stop()  # waits until the port is closed


def test_export_rides_out_a_store_restart_and_a_failed_run_is_retried(
    own_store, worker_env, settings, monkeypatch, tmp_path
):
    server, env = own_store
    world = build_world()
    reference = execute_run(create_run([world.three.pk], "jsonl").pk)  # the local backend
    expected = reference.absolute_path.read_bytes()
    point_settings_at(settings, monkeypatch, env)
    settings.MEDIA_ROOT = tmp_path / "web-scratch"
    admin = admin_client()

    # An outage longer than the retry window: the run fails, recorded and not downloadable.
    settings.PAIRRATE_STORAGE_RETRY_SECONDS = 1.0
    crash(server)
    failed = create_run([world.three.pk], "jsonl")
    with pytest.raises(StorageUnavailable):
        execute_run(failed.pk)
    shown = admin.get(f"/api/exports/{failed.pk}/").json()
    assert shown["state"] == "failed" and shown["download_url"] is None and "StorageUnavailable" in shown["error"]
    assert admin.get(f"/api/exports/{failed.pk}/download/").status_code == 409
    server.start()
    settings.PAIRRATE_STORAGE_RETRY_SECONDS = 60.0

    # Retried on a worker whose publish meets a store stopped and started again.
    worker = start_worker(
        worker_env, env, tmp_path / "worker", "s3-outage", PAIRRATE_FAULT_DRILL_PAUSE=f"export={PAUSE_SECONDS}"
    )
    try:
        assert admin.post(f"/api/exports/{failed.pk}/retry/").status_code == 202
        wait_for(lambda: ExportRun.objects.get(pk=failed.pk).state, lambda s: s == "running", what="running")
        crash(server)  # before the worker has written a byte: its upload meets the outage
        time.sleep(PAUSE_SECONDS + 1)
        during = admin.get(f"/api/exports/{failed.pk}/").json()
        assert during["state"] == "running" and during["download_url"] is None, during
        assert admin.get(f"/api/exports/{failed.pk}/download/").status_code == 409
        assert admin.get(f"/api/projects/{world.three.pk}/exports/").json()[0]["state"] == "running"
        server.start()
        done = wait_for(
            lambda: admin.get(f"/api/exports/{failed.pk}/").json(),
            lambda d: d["state"] in ("succeeded", "failed"),
            what="the export",
        )
    finally:
        worker.stop()
    assert done["state"] == "succeeded", done
    assert "unreachable" in (tmp_path / "worker" / "worker.log").read_text()  # it did meet the outage
    run = ExportRun.objects.get(pk=failed.pk)
    stored, metadata = object_bytes(env, run.file_path)
    assert stored == expected and run.sha256 == reference.sha256 == metadata["sha256"]
    assert run.size_bytes == len(expected) and run.row_count == reference.row_count
