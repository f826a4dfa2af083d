"""PostgreSQL stopped and started with clients connected: annotators rating through the API,
a launch stage, an export (worker and command line) and an import. The cluster is the
test's own (tests/faults/conftest.py); the shared server is never touched."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.faults.conftest import wait_stage, wait_state

pytestmark = [pytest.mark.worker]
ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate, what: str, timeout: float = 120):
    from tests.pipeline.conftest import _wait_until

    return _wait_until(predicate, timeout, 0.1, what)


def test_annotators_rate_through_a_restart_and_every_accepted_submit_is_stored_once(on_postgres, caplog):
    from rest_framework.test import APIClient

    from annotation.models import Assignment, Rating
    from tests.annotation.workflow_setup import join, make_project, make_user, next_task, rate_all

    n_annotators, n_tasks, candidates = 30, 120, 2  # the 30 annotators
    project = make_project(
        n_tasks=n_tasks, candidates=candidates, per_task=3, consensus_rule="majority", contested_route="exclude"
    )
    users = [make_user(f"a{i}") for i in range(n_annotators)]
    join(project, *users)
    accepted: list[int] = []
    statuses: list[int] = []
    outage_bodies: list[tuple[dict, str | None]] = []
    stop = threading.Event()

    def annotate(user, seed):
        client = APIClient()
        client.force_authenticate(user)
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                response = next_task(client, project)
                statuses.append(response.status_code)
                if response.status_code == 503:
                    outage_bodies.append((response.json(), response.headers.get("Retry-After")))
                    time.sleep(0.2)
                    continue
                if response.status_code == 204:
                    return
                payload = response.json()
                result = rate_all(client, payload, [rng.choice(["good", "bad"]) for _ in payload["candidates"]])
                statuses.append(result.status_code)
                if result.status_code == 200:
                    accepted.append(payload["id"])
                elif result.status_code == 503:
                    outage_bodies.append((result.json(), result.headers.get("Retry-After")))
        finally:
            connection.close()

    threads = [threading.Thread(target=annotate, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    _wait(lambda: len(accepted) >= 20, "some ratings before the outage")
    on_postgres.restart(down_seconds=2)
    connection.close()  # this thread's connection died with the server
    _wait(lambda: not any(t.is_alive() for t in threads), "the annotators to drain the project", 180)
    stop.set()

    assert 500 not in statuses, "no request got a 500"
    assert outage_bodies, "requests during the outage were answered"
    assert {body["code"] for body, _ in outage_bodies} == {"database_unavailable"}
    assert all(retry == "5" for _, retry in outage_bodies)
    submitted = list(Assignment.objects.filter(state="submitted").values_list("pk", flat=True))
    assert sorted(accepted) == sorted(set(accepted)), "no submit was accepted twice"
    assert set(accepted) <= set(submitted), "every accepted submit is stored"
    assert Rating.objects.filter(assignment__in=accepted).count() == len(accepted) * candidates
    assert Assignment.objects.filter(state="submitted").count() == n_tasks * 3, "the project was drained after"
    tracebacks = [r for r in caplog.records if r.exc_info and "OperationalError" in repr(r.exc_info[1])]
    assert not tracebacks, "the outage is logged in one line per request, without tracebacks"


def test_launch_stage_through_a_restart_fails_visibly_and_retry_gives_the_same_tasks(
    on_postgres, make_project, start_worker, monkeypatch, task_signature
):
    from annotation.models import Project
    from annotation.pipeline import runner
    from tasks.celery_app import app

    start_worker("pg", PAIRRATE_FAULT_DRILL_PAUSE="create_tasks=4")
    project = make_project("restarted", nsfw_backend="none")
    runner.launch(project.id)
    wait_stage(project, "create_tasks")
    on_postgres.restart(down_seconds=1)
    connection.close()
    wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=120)
    if project.state == Project.State.FAILED:
        stage = project.stages.get(name="create_tasks")
        assert stage.state == "failed" and ("OperationalError" in stage.error or "InterfaceError" in stage.error)
        runner.retry(project.id)
        wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=120)
    assert project.state == Project.State.READY

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    reference = make_project("reference", nsfw_backend="none")
    runner.launch(reference.id)
    assert task_signature(project) == task_signature(reference) and task_signature(reference)


def test_export_whose_connection_drops_ends_failed_and_retry_gives_the_same_file(on_postgres, start_worker):
    from annotation.export import create_run, execute_run
    from annotation.models import ExportRun
    from tasks.cpu import export_ratings
    from tests.export.builders import build_world

    world = build_world()
    start_worker("pg", PAIRRATE_FAULT_DRILL_PAUSE="export=4")
    run = create_run([world.three.id], "jsonl")
    export_ratings.delay(run.pk)
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state == "running", "the export to run")
    on_postgres.restart(down_seconds=1)
    connection.close()
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state != "running", "the export to end", 120)
    run.refresh_from_db()
    assert run.state == ExportRun.State.FAILED and "OperationalError" in run.error, (run.state, run.error)
    assert not run.absolute_path.exists() and not list(run.absolute_path.parent.glob(".tmp-*"))

    retried = execute_run(run.pk)  # what the retry endpoint runs on a worker
    reference = execute_run(create_run([world.three.id], "jsonl").pk)
    assert retried.state == "succeeded" and retried.sha256 == reference.sha256 and retried.row_count > 0


def test_export_command_during_an_outage_exits_with_one_clear_line(on_postgres, fault_env, worker_env):
    from annotation.models import ExportRun
    from tests.export.builders import build_world

    world = build_world()
    env = {**fault_env, "DATABASE_URL": worker_env["DATABASE_URL"], "PAIRRATE_FAULT_DRILL_PAUSE": "export=6"}
    command = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "export_ratings",
            "--project",
            str(world.three.id),
            "--format",
            "jsonl",
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait(lambda: ExportRun.objects.filter(state="running").exists(), "the command's export to run")
    on_postgres.restart(down_seconds=1)
    connection.close()
    out, err = command.communicate(timeout=120)
    assert command.returncode == 1, (out, err)
    assert "Traceback" not in err, err
    assert "failed: OperationalError" in err and "retry" in err, err
    assert ExportRun.objects.get().state == ExportRun.State.FAILED


def test_import_through_a_restart_is_all_or_nothing_and_the_next_run_succeeds(
    on_postgres, dataset_bundle, start_worker
):
    from annotation.models import Caption, Dataset, ImportRun, Item
    from tasks.cpu import import_dataset

    start_worker("pg", PAIRRATE_FAULT_DRILL_PAUSE="import=4")
    run = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(run.pk)
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state == "running", "the import to run")
    on_postgres.restart(down_seconds=1)
    connection.close()
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state != "running", "the import to end", 120)
    run.refresh_from_db()
    assert run.state == ImportRun.State.FAILED, run.errors
    assert not Dataset.objects.filter(name="launchset").exists() and not Item.objects.exists()

    again = ImportRun.objects.create(dataset_name="", source=str(dataset_bundle))
    import_dataset.delay(again.pk)
    _wait(
        lambda: (
            ImportRun.objects.get(pk=again.pk).state != "pending"
            and ImportRun.objects.get(pk=again.pk).state != "running"
        ),
        "the second import",
        120,
    )
    again.refresh_from_db()
    assert again.state == ImportRun.State.SUCCEEDED, again.errors
    assert Caption.objects.filter(dataset__name="launchset").count() == sum(
        1 for _ in open(dataset_bundle / "captions.jsonl")
    )
    assert json.loads(json.dumps(again.counts))["captions"] > 0
