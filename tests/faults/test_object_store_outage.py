"""The object store stopped and restarted while a match part runs: the part's storage calls
wait for it (retrying, logged), and the launch ends with the same tasks as a calm one.
Uses its own SeaweedFS on its own ports (never the shared one)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.faults.conftest import wait_stage, wait_state
from tests.objectstore import SECRET_KEY, SeaweedServer, client, point_settings_at, storage_env
from tests.pipeline.conftest import _task_signature

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_store(tmp_path, settings, monkeypatch):
    server = SeaweedServer(tmp_path / "weed", s3_port=8633, master_port=9533, volume_port=8580, filer_port=8988).start()
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    client(server.endpoint).create_bucket(Bucket=bucket)
    env = storage_env(server.endpoint, bucket, "pairrate", tmp_path / "web-cache")
    point_settings_at(settings, monkeypatch, env)
    settings.MEDIA_ROOT = tmp_path / "web-scratch"
    yield server, env
    server.stop()


def _launch(admin, project):
    assert admin.post(f"/api/projects/{project.id}/launch/").status_code == 202


def test_store_restarted_during_a_match_part(own_store, dataset_bundle, start_worker, fault_env, tmp_path):
    from annotation.importing import import_bundle
    from annotation.models import Dataset, EmbeddingSpace, Project
    from tests.annotation.workflow_setup import client_for, make_user

    server, env = own_store
    import_bundle(dataset_bundle)  # this process writes straight to the bucket
    worker = start_worker(
        "s3",
        **{
            **env,
            "PAIRRATE_MEDIA_ROOT": str(tmp_path / "worker-scratch"),
            "PAIRRATE_STORAGE_CACHE_DIR": str(tmp_path / "worker-cache"),
            "PAIRRATE_FAULT_DRILL_PAUSE": "match_part=3",
        },
    )
    admin = client_for(make_user("admin", staff=True))

    def project(name: str) -> Project:
        made = Project.objects.create(
            name=name,
            space=EmbeddingSpace.objects.get(name="t-image"),
            target_modality="image",
            sample_size=20,
            item_cap=8,
            seed=3,
            nsfw_backend="none",
        )
        made.caption_datasets.set(Dataset.objects.filter(name="launchset"))
        return made

    calm = project("calm")
    _launch(admin, calm)
    wait_state(calm, {Project.State.READY, Project.State.FAILED}, timeout=180)
    assert calm.state == Project.State.READY

    stormy = project("stormy")
    _launch(admin, stormy)
    wait_stage(stormy, "match", "running", timeout=120)
    time.sleep(1.0)  # inside the part's 3 s hold: the store goes before the part reads or writes
    server.stop()
    time.sleep(5.0)
    server.start()
    wait_state(stormy, {Project.State.READY, Project.State.FAILED}, timeout=180)
    assert stormy.state == Project.State.READY, {s.name: s.error for s in stormy.stages.all()}
    assert _task_signature(stormy) == _task_signature(calm)
    log = worker.log_path.read_text()
    assert "object store unreachable, retrying" in log  # it waited for the store, and said so
    assert SECRET_KEY not in log
