"""Redis restarted without persistence (queued messages gone) in the middle of launches."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import history_events, wait_stage, wait_state

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_broker_restart_mid_launch_worker_survives_and_lost_stage_is_redispatched(
    make_project, start_worker, broker, task_signature
):
    from annotation.models import Project
    from annotation.pipeline import runner

    worker = start_worker("busy", PAIRRATE_FAULT_DRILL_PAUSE="curate=4")
    busy, lost = make_project("busy"), make_project("lost")
    runner.launch(busy.id)
    wait_stage(busy, "curate")  # the worker is inside busy's curate stage
    runner.launch(lost.id)  # lost's curate message waits in the queue...
    broker.restart()  # ...and goes with the broker
    for project in (busy, lost):
        wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=150)
        assert project.state == Project.State.READY, {s.name: s.error for s in project.stages.all()}
    assert worker.process.poll() is None, "the worker survived the broker restart"
    assert "re-dispatched" in history_events(lost)["curate"]
    assert "re-dispatched" not in sum(history_events(busy).values(), [])

    reference = make_project("reference")
    runner.launch(reference.id)
    wait_state(reference, {Project.State.READY, Project.State.FAILED}, timeout=150)
    assert task_signature(busy) == task_signature(lost) == task_signature(reference)
    assert task_signature(reference), "the launch made tasks"


def test_a_channel_of_a_closed_redis_connection_fails_as_a_lost_connection(broker):
    """The path of the reported worker exit: the transport's client is gone (closed
    connection), the channel's pool was dropped, and the channel is asked for a client."""
    from kombu import Connection

    import tasks.celery_app  # noqa: F401 (installs the guard)

    connection = Connection(broker.url)
    channel = connection.default_channel
    connection.transport.client = None  # what Connection._do_close_transport does
    channel._pool = None  # what Channel.close / _disconnect_pools does
    with pytest.raises(connection.connection_errors) as raised:
        channel.qos.ack("a-delivery-tag")  # Celery's ack after the task finished
    assert "broker connection closed" in str(raised.value)


def test_broker_restart_mid_export_worker_survives_and_lost_export_is_redispatched(start_worker, broker):
    from annotation.export import create_run, execute_run
    from annotation.models import ExportRun
    from tasks.cpu import export_ratings
    from tests.export.builders import build_world
    from tests.pipeline.conftest import _wait_until

    world = build_world()
    worker = start_worker("busy", PAIRRATE_FAULT_DRILL_PAUSE="export=4")
    busy, lost = (create_run([world.three.id], "jsonl") for _ in range(2))
    export_ratings.delay(busy.pk)
    _wait_until(lambda: ExportRun.objects.get(pk=busy.pk).state == "running", 60, 0.05, "the busy export")
    export_ratings.delay(lost.pk)  # waits in the queue...
    broker.restart()  # ...and goes with the broker
    for run in (busy, lost):
        _wait_until(lambda: ExportRun.objects.get(pk=run.pk).state in ("succeeded", "failed"), 150, 0.2, "exports")
        run.refresh_from_db()
        assert run.state == "succeeded", run.error
    assert worker.process.poll() is None, "the worker survived the broker restart"
    assert "sweeper: export %d: re-dispatched" % lost.pk in worker.log_path.read_text()
    reference = execute_run(create_run([world.three.id], "jsonl").pk)
    assert busy.sha256 == lost.sha256 == reference.sha256


def test_broker_restart_mid_groups_build_worker_survives_and_lost_parts_are_redispatched(
    start_worker, broker, tmp_path
):
    """A search part is held on the worker while the others wait in the queue; the broker
    restarts without them. The build's heartbeat goes stale once the held part is done, the
    sweeper sends its plan again, and the build ends with the outputs of a calm build."""
    from annotation.groups import create_build, runner
    from annotation.importing import import_bundle
    from annotation.models import GroupsBuild, GroupsPart
    from tests.groups.conftest import four_spaces, wait_settled, write_bundle
    from tests.pipeline.conftest import _wait_until

    import_bundle(write_bundle(tmp_path / "bundle"))
    worker = start_worker("busy", PAIRRATE_FAULT_DRILL_PAUSE="groups_search=2")  # one search part per space
    build = create_build(["groupset"], four_spaces(), k=4)
    runner.start(build.pk)
    _wait_until(lambda: GroupsPart.objects.filter(build=build).exists(), 60, 0.05, "the plan")
    time.sleep(0.8)  # inside the first search part's 2 s hold, the other parts queued
    assert not GroupsPart.objects.filter(build=build, state="done").exists()
    broker.restart()  # the queued parts go with the broker
    build = wait_settled(build, 240)
    assert build.state == GroupsBuild.State.SUCCEEDED, build.error
    assert worker.process.poll() is None, "the worker survived the broker restart"
    assert f"sweeper: groups build {build.pk}: re-dispatched" in worker.log_path.read_text()

    calm = create_build(["groupset"], four_spaces(), k=4)
    runner.start(calm.pk)
    calm = wait_settled(calm, 240)
    checksums = lambda b: {name: record["sha256"] for name, record in b.files.items()}  # noqa: E731
    assert checksums(build) == checksums(calm) and checksums(calm)
