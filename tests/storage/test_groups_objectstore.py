"""A groups build on the object store, its work spread over processes that share only the
bucket: this process plans and searches, a worker with its own MEDIA_ROOT and cache merges
the caption chunks (reading the search parts from the bucket) and writes the E-MM1 100M
layout export. Every output object is byte-identical to the same build on the local file
system, and downloads are presigned redirects to those objects."""

from __future__ import annotations

import pytest

from annotation import storage
from annotation.groups import create_build, runner
from annotation.jobs import send
from annotation.models import GroupsBuild
from tests.groups.conftest import four_spaces, wait_settled, write_bundle
from tests.storage.s3_workers import admin_client, presigned_download, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def build_in_process(monkeypatch) -> GroupsBuild:
    from tasks.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    try:
        build = create_build(["groupset"], four_spaces(), k=3)
        runner.start(build.pk)
    finally:
        monkeypatch.setitem(app.conf, "task_always_eager", False)
    build.refresh_from_db()
    return build


def test_groups_build_and_layout_export_on_the_bucket_equal_the_local_ones(
    object_store, worker_env, settings, monkeypatch, tmp_path
):
    from annotation.importing import import_bundle

    groups_bundle = write_bundle(tmp_path / "bundle")
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 20  # 3 caption chunks
    settings.PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = 12
    url, settings.PAIRRATE_STORAGE_URL = settings.PAIRRATE_STORAGE_URL, ""
    import_bundle(groups_bundle)
    reference = build_in_process(monkeypatch)
    assert reference.state == "succeeded", reference.error
    expected = {name: (reference.output_folder / name).read_bytes() for name in reference.files}

    settings.PAIRRATE_STORAGE_URL = url
    import_bundle(groups_bundle)  # the same rows; its vector shards now in the bucket
    merges = []
    with monkeypatch.context() as held:
        held.setattr(runner, "dispatch_merge", lambda build_id, chunk: merges.append(chunk))
        build = build_in_process(monkeypatch)  # plan and search parts here; the merges held back
    assert build.state == "running" and sorted(merges) == [0, 1, 2], build.error
    settings.MEDIA_ROOT = tmp_path / "web-scratch"  # nothing the worker writes can be read from disk
    worker = start_worker(worker_env, object_store, tmp_path / "worker", "s3-groups")
    try:
        for chunk in merges:
            send("tasks.cpu.groups_merge", build.pk, chunk)
        build = wait_settled(build, 120)
    finally:
        worker.stop()
    assert build.state == "succeeded", build.error
    merged_by = {w.split("@", 1)[0] for w in build.parts.filter(kind="merge").values_list("worker", flat=True)}
    assert merged_by == {"s3-groups"}
    assert {n: r["sha256"] for n, r in build.files.items()} == {n: r["sha256"] for n, r in reference.files.items()}
    assert set(storage.list_folder(build.output_path)) == {
        f"{build.output_path}/{n}" for n in [*build.files, "SHA256SUMS"]
    }
    assert storage.list_folder(f"groups/{build.pk}/parts") == []  # merged, then removed from the bucket
    for name, record in build.files.items():  # the checksum kept with each object is its bytes'
        assert storage.get_store().sha256(f"{build.output_path}/{name}") == record["sha256"], name
    admin = admin_client()
    for name, body in expected.items():
        downloaded = presigned_download(
            admin,
            f"/api/groups/{build.pk}/download/?file={name}",
            object_store["PAIRRATE_S3_ENDPOINT_URL"],
            storage.media_url_seconds(),
        )
        assert downloaded == body, name
    assert not (tmp_path / "web-scratch" / "groups").exists()
