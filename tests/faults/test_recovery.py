"""A launch stuck with no task (its message lost, no worker alive) can be retried; a broker
that is down at a stage boundary leaves the finished stage finished."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import history_events, wait_stage, wait_state

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_retry_takes_a_stalled_launch_and_refuses_a_live_one(make_project, broker, start_worker, settings):
    from annotation.models import Project
    from annotation.pipeline import runner
    from tasks.celery_app import app
    from tests.annotation.workflow_setup import client_for, make_user

    admin = client_for(make_user("admin", staff=True))
    project = make_project("stuck", nsfw_backend="none")
    assert admin.post(f"/api/projects/{project.id}/launch/").status_code == 202
    app.control.purge()  # the curate message is lost, and no worker is alive to sweep
    response = admin.post(f"/api/projects/{project.id}/retry/")
    assert response.status_code == 409 and response.json()["code"] == "launch_running", response.json()
    time.sleep(settings.PAIRRATE_STALL_TIMEOUT + 0.5)
    response = admin.post(f"/api/projects/{project.id}/retry/")
    assert response.status_code == 202, response.json()
    curate = response.json()["stages"][0]
    assert curate["name"] == "curate" and [e["event"] for e in curate["history"]] == ["retried (stalled)"]

    start_worker("after-retry")
    wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=150)
    assert project.state == Project.State.READY
    assert runner.STAGE_ORDER == [
        s["name"] for s in admin.get(f"/api/projects/{project.id}/pipeline/").json()["stages"]
    ]


def test_broker_down_at_a_stage_boundary_keeps_the_finished_stage_and_the_sweeper_dispatches_the_next(
    make_project, broker, start_worker
):
    from annotation.models import Project
    from annotation.pipeline import runner

    start_worker("boundary", PAIRRATE_FAULT_DRILL_PAUSE="dedup=3")
    project = make_project("boundary", nsfw_backend="none")
    runner.launch(project.id)
    wait_stage(project, "dedup")
    broker.stop()  # down when dedup finishes and dispatches create_tasks
    wait_stage(project, "dedup", "succeeded", timeout=60)
    from tests.pipeline.conftest import _wait_until

    _wait_until(lambda: "dispatch failed" in history_events(project)["create_tasks"], 60, 0.2, "the failed dispatch")
    assert project.stages.get(name="dedup").state == "succeeded", "a stage that succeeded is not shown failed"
    broker.start()
    wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=150)
    assert project.state == Project.State.READY, {s.name: s.error for s in project.stages.all()}
    assert "re-dispatched" in history_events(project)["create_tasks"]
    assert project.stages.get(name="dedup").attempts == 1
