"""Parts spread over worker processes: two workers both take parts, and a worker killed
mid-build changes nothing; outputs are byte-identical to a one-worker build."""

from __future__ import annotations

import time

import pytest

from annotation.groups import create_build, runner
from annotation.models import GroupsBuild

from .conftest import four_spaces, wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


def _build(settings) -> GroupsBuild:
    build = create_build(["groupset"], four_spaces(), k=4)
    runner.start(build.pk)
    return build


def _small_parts(settings) -> None:
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 11  # 4 caption chunks x 9 item chunks
    settings.PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = 12


def _release_restore_mutex() -> None:
    """A worker SIGKILLed while it held kombu's restore mutex (it takes it every second to
    look for unacknowledged messages) blocks every restore for the mutex's 300 s expiry;
    drop it, as its expiry would, so the killed part comes back within the test."""
    from tasks.celery_app import app

    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("unacked_mutex")


def _checksums(build: GroupsBuild) -> dict:
    return {name: record["sha256"] for name, record in build.files.items()}


def test_two_workers_share_the_parts_and_match_one_worker(
    imported_groups, running_worker, worker_env, settings, tmp_path
):
    _small_parts(settings)
    reference = wait_settled(_build(settings), 240)
    assert reference.state == "succeeded", reference.error
    assert {w.split("@", 1)[0] for w in reference.parts.values_list("worker", flat=True)} == {running_worker.name}
    WorkerProcess = type(running_worker)
    running_worker.stop()
    first = WorkerProcess(worker_env, tmp_path / "first.log", "first").start()
    second = WorkerProcess(worker_env, tmp_path / "second.log", "second").start()
    try:
        build = wait_settled(_build(settings), 240)
    finally:
        first.stop()
        second.stop()
    assert build.state == "succeeded", build.error
    workers = {w.split("@", 1)[0] for w in build.parts.filter(kind="search").values_list("worker", flat=True)}
    assert workers == {"first", "second"}
    assert _checksums(build) == _checksums(reference) and len(_checksums(build)) == 4 * 2 + 5
    for name in build.files:
        assert (build.output_folder / name).read_bytes() == (reference.output_folder / name).read_bytes()


def test_worker_killed_mid_build_changes_nothing(imported_groups, running_worker, worker_env, settings, tmp_path):
    _small_parts(settings)
    reference = wait_settled(_build(settings), 240)
    assert reference.state == "succeeded", reference.error
    WorkerProcess = type(running_worker)
    running_worker.stop()
    doomed = WorkerProcess(worker_env, tmp_path / "doomed.log", "doomed").start()
    build = _build(settings)
    deadline = time.monotonic() + 120
    while not build.parts.filter(state="done").count() >= 6:
        assert time.monotonic() < deadline, "no part finished"
        time.sleep(0.02)
    doomed.kill()
    _release_restore_mutex()
    build.refresh_from_db()
    assert build.state == "running" and build.parts.filter(state="pending").exists()
    replacement = WorkerProcess(worker_env, tmp_path / "replacement.log", "replacement").start()
    try:
        build = wait_settled(build, 240)
    finally:
        replacement.stop()
    assert build.state == "succeeded", build.error
    assert _checksums(build) == _checksums(reference)
    workers = {w.split("@", 1)[0] for w in build.parts.values_list("worker", flat=True)}
    assert workers == {"doomed", "replacement"}
    assert not list(build.output_folder.parent.rglob(".tmp-*")), "no half-written files left behind"
