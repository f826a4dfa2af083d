"""Redis restarted without persistence (queued messages gone) in the middle of launches."""

from __future__ import annotations

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
