"""Disk full while a worker writes an export or stages an import: the worker process gets a
file size limit (RLIMIT_FSIZE, set on the running process), so its next large write fails
with EFBIG as a full disk fails with ENOSPC. The run ends failed with the error, no partial
file looks complete, stored data is unchanged, and the next run succeeds once space is back."""

from __future__ import annotations

import resource

import pytest

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
UNLIMITED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


def _wait(predicate, what: str, timeout: float = 120):
    from tests.pipeline.conftest import _wait_until

    return _wait_until(predicate, timeout, 0.1, what)


def test_export_on_a_full_disk_fails_cleanly_and_succeeds_once_space_is_back(start_worker):
    from annotation.export import create_run, execute_run
    from annotation.models import ExportRun
    from tasks.cpu import export_ratings
    from tests.export.builders import build_world

    world = build_world()
    reference = execute_run(create_run([world.three.id, world.single.id], "jsonl").pk)
    worker = start_worker("full-disk")
    resource.prlimit(worker.process.pid, resource.RLIMIT_FSIZE, (reference.size_bytes // 2, resource.RLIM_INFINITY))

    run = create_run([world.three.id, world.single.id], "jsonl")
    export_ratings.delay(run.pk)
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state == "failed", "the export to fail")
    run.refresh_from_db()
    assert "File too large" in run.error, run.error
    folder = run.absolute_path.parent
    assert not run.absolute_path.exists() and not list(folder.glob(".tmp-*")), list(folder.iterdir())

    resource.prlimit(worker.process.pid, resource.RLIMIT_FSIZE, UNLIMITED)
    export_ratings.delay(run.pk)  # what the retry endpoint sends
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state == "succeeded", "the retried export")
    run.refresh_from_db()
    assert run.sha256 == reference.sha256 and run.absolute_path.stat().st_size == reference.size_bytes


def test_import_staging_on_a_full_disk_stores_nothing_and_succeeds_once_space_is_back(
    dataset_bundle, start_worker, settings, tmp_path
):
    from annotation.models import Caption, Dataset, ImportRun, Item, VectorShard
    from tasks.cpu import import_dataset

    settings.MEDIA_ROOT = tmp_path / "media"  # empty: earlier tests' media would be skipped, not written
    worker = start_worker("full-disk", PAIRRATE_MEDIA_ROOT=str(settings.MEDIA_ROOT))
    resource.prlimit(worker.process.pid, resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))  # < one 240 kB cloud
    run = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(run.pk)
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state == "failed", "the import to fail")
    run.refresh_from_db()
    assert any("File too large" in e["message"] for e in run.errors), run.errors
    assert not Dataset.objects.exists() and not Item.objects.exists() and not VectorShard.objects.exists()
    media = settings.MEDIA_ROOT
    assert not (media / ".staging").exists() and not list(media.rglob("cloud*.npy")), "no staged or placed files"

    resource.prlimit(worker.process.pid, resource.RLIMIT_FSIZE, UNLIMITED)
    again = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(again.pk)
    _wait(lambda: ImportRun.objects.get(pk=again.pk).state in ("succeeded", "failed"), "the second import")
    again.refresh_from_db()
    assert again.state == "succeeded", again.errors
    assert Caption.objects.count() == sum(1 for _ in open(dataset_bundle / "captions.jsonl"))


@pytest.fixture
def small_file_system(tmp_path):
    """A 200 kB tmpfs: a real full disk (ENOSPC), where this machine lets the tests mount."""
    import os
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("mounting a small file system needs root (the RLIMIT_FSIZE tests above cover the same paths)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_import_on_a_really_full_file_system_stores_nothing_and_succeeds_once_it_grows(
    dataset_bundle, start_worker, settings, small_file_system
):
    import subprocess

    from annotation.models import Dataset, ImportRun, Item, VectorShard
    from tasks.cpu import import_dataset

    settings.MEDIA_ROOT = small_file_system
    start_worker("enospc", PAIRRATE_MEDIA_ROOT=str(small_file_system))
    run = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(run.pk)
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state == "failed", "the import to fail")
    run.refresh_from_db()
    assert any("No space left on device" in e["message"] for e in run.errors), run.errors
    assert not Dataset.objects.exists() and not Item.objects.exists() and not VectorShard.objects.exists()
    assert not (small_file_system / ".staging").exists() and not list(small_file_system.rglob("*.npy"))

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_file_system)], check=True)  # space is back
    again = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(again.pk)
    _wait(lambda: ImportRun.objects.get(pk=again.pk).state in ("succeeded", "failed"), "the second import")
    again.refresh_from_db()
    assert again.state == "succeeded", again.errors
    assert VectorShard.objects.exists() and all(shard.absolute_path.is_file() for shard in VectorShard.objects.all())
