"""A worker SIGKILLed inside every kind of work: the launch stages, an import, an export.

The killed worker's message stays unacknowledged for the broker's visibility timeout (an
hour here, as in production), so only the sweeper brings the work back: a replacement
worker finds the stopped heartbeat and re-dispatches. Results are those of a run with no
fault; nothing is duplicated.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import history_events, wait_stage, wait_state

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STAGES = [
    ("curate", "curate"),
    ("filter", "filter"),
    ("match", "match_part"),
    ("dedup", "dedup"),
    ("create_tasks", "create_tasks"),
    ("media", "media"),
]


def _wait(predicate, what: str, timeout: float = 120):
    from tests.pipeline.conftest import _wait_until

    return _wait_until(predicate, timeout, 0.1, what)


@pytest.mark.parametrize("work", [s for s, _ in STAGES] + ["import", "export"])
def test_worker_killed_inside_work_is_redispatched_with_identical_results(
    work, request, start_worker, monkeypatch, task_signature, tmp_path
):
    from tasks.celery_app import app

    pause = dict(STAGES).get(work, work)
    doomed = start_worker("doomed", PAIRRATE_FAULT_DRILL_PAUSE=f"{pause}=120")
    if work == "import":
        return _import_case(request.getfixturevalue("dataset_bundle"), doomed, start_worker)
    if work == "export":
        return _export_case(doomed, start_worker)

    from annotation.models import Project
    from annotation.pipeline import runner

    make_project = request.getfixturevalue("make_project")
    project = make_project("killed", nsfw_backend="none")
    runner.launch(project.id)
    wait_stage(project, work)
    if pause.endswith("_part"):
        _wait(lambda: "run_part[" in doomed.log_path.read_text(), "the worker to take a part")
    doomed.kill()
    start_worker("replacement")
    wait_state(project, {Project.State.READY, Project.State.FAILED}, timeout=150)
    assert project.state == Project.State.READY, {s.name: s.error for s in project.stages.all()}
    assert "re-dispatched" in history_events(project)[work]

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the same launch with no fault
    reference = make_project("reference", nsfw_backend="none")
    runner.launch(reference.id)
    reference.refresh_from_db()
    assert reference.state == Project.State.READY
    assert task_signature(project) == task_signature(reference) and task_signature(reference)
    assert project.tasks.count() == len(set(project.tasks.values_list("caption_id", flat=True)))


def _import_case(bundle, doomed, start_worker):
    from annotation.models import Caption, Dataset, ImportRun, Item
    from tasks.cpu import import_dataset

    run = ImportRun.objects.create(dataset_name="", source=str(bundle))
    import_dataset.delay(run.pk)
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state == ImportRun.State.RUNNING, "the import to run")
    doomed.kill()
    assert not Dataset.objects.filter(name="launchset").exists(), "nothing was committed by the killed attempt"
    start_worker("replacement")
    _wait(lambda: ImportRun.objects.get(pk=run.pk).state in ("succeeded", "failed"), "the import to end", 150)
    run.refresh_from_db()
    assert run.state == ImportRun.State.SUCCEEDED, run.errors
    dataset = Dataset.objects.get(name="launchset")
    lines = lambda name: sum(1 for _ in open(bundle / name))  # noqa: E731
    assert Item.objects.filter(dataset=dataset).count() == lines("items.jsonl")
    assert Caption.objects.filter(dataset=dataset).count() == lines("captions.jsonl")


def _export_case(doomed, start_worker):
    from annotation.export import create_run, execute_run
    from annotation.models import ExportRun
    from tasks.cpu import export_ratings
    from tests.export.builders import build_world

    world = build_world()
    run = create_run([world.three.id, world.single.id], "jsonl")
    export_ratings.delay(run.pk)
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state == ExportRun.State.RUNNING, "the export to run")
    doomed.kill()
    start_worker("replacement")
    _wait(lambda: ExportRun.objects.get(pk=run.pk).state in ("succeeded", "failed"), "the export to end", 150)
    run.refresh_from_db()
    assert run.state == ExportRun.State.SUCCEEDED, run.error
    assert run.attempts == 2
    reference = execute_run(create_run([world.three.id, world.single.id], "jsonl").pk)
    assert run.sha256 == reference.sha256 and run.row_count == reference.row_count > 0
    assert not list(run.absolute_path.parent.glob(".tmp-*"))
