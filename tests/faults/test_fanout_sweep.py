"""Fan-outs are swept like stages: a groups build whose worker died mid-part (its message
hidden for the broker's hour) is re-dispatched by another worker's sweeper once its
heartbeat is stale and its queues are empty, and it finishes."""

from __future__ import annotations

import time

import pytest

from tests.groups.conftest import four_spaces, wait_settled, write_bundle
from tests.pipeline.conftest import _wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_groups_build_of_a_killed_worker_is_swept_and_finishes(start_worker, fault_env, settings, tmp_path):
    from annotation.groups import create_build, runner
    from annotation.importing import import_bundle
    from annotation.models import GroupsBuild, GroupsPart

    import_bundle(write_bundle(tmp_path / "bundle"))
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 11  # a few parts
    settings.PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = 48
    doomed = start_worker("doomed", PAIRRATE_FAULT_DRILL_PAUSE="groups_search=60", PAIRRATE_SWEEP_INTERVAL="0")
    build = create_build(["groupset"], four_spaces(), k=4)
    runner.start(build.pk)
    # A search part is being held (beating): the build's heartbeat is fresh while it waits.
    _wait_until(
        lambda: GroupsBuild.objects.filter(pk=build.pk, heartbeat_at__isnull=False, state="running").exists(),
        60,
        0.1,
        "a search part to start",
    )
    time.sleep(1.0)
    assert GroupsPart.objects.filter(build=build, state="done").count() == 0
    doomed.kill()  # its part's message stays unacknowledged for the broker's hour

    rescuer = start_worker("rescuer")  # its sweeper runs every second
    build = wait_settled(build, 240)
    assert build.state == GroupsBuild.State.SUCCEEDED, build.error
    assert not GroupsPart.objects.filter(build=build).exclude(state="done").exists()
    log = rescuer.log_path.read_text()
    assert f"groups build {build.pk}: re-dispatched" in log, log[-3000:]
