"""Exports read one snapshot while ratings keep arriving, and survive a killed worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from annotation.rating import consensus
from annotation.export import create_run, execute_run, parse_filters
from annotation.export.rows import ExportSource, snapshot
from annotation.models import Caption, Dataset, ExportRun, Item, PairResult, Task, TaskCandidate
from tests.export.builders import add_task, build_world, new_project, rate

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(work) -> None:
    """Run `work` on another database connection (as another request would) and wait."""
    errors = []

    def target():
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    assert not errors, errors


def test_rows_come_from_one_snapshot():
    world = build_world()
    source = ExportSource([world.three.pk], parse_filters({}), chunk_size=2)
    with snapshot():
        before = list(source.rows())
    assert len(before) == 10

    def change_everything():
        task = Task.objects.get(project=world.three, caption__external_id="cap5")
        rate(world.three, task, {a: ["good", "good"] for a in world.annotators[:3]})  # two new results
        consensus.adjudicate(world.result(world.three, "cap2", 0).pk, world.three, None, "good")
        PairResult.objects.filter(task__caption__external_id="cap4").delete()

    with snapshot():
        rows = source.rows()
        first = next(rows)
        in_thread(change_everything)
        during = [first, *rows]
    assert during == before
    with snapshot():
        after = list(source.rows())
    assert len(after) == 10 and after != before


def test_export_while_ratings_keep_arriving_is_consistent():
    world = build_world()
    live = new_project("live", 3)
    dataset = Dataset.objects.get(name="ds")
    items = list(Item.objects.filter(modality="image"))
    captions = Caption.objects.bulk_create(
        [Caption(dataset=dataset, external_id=f"live{i}", text=f"live {i}") for i in range(150)]
    )
    tasks = [add_task(live, caption, items[:2], i) for i, caption in enumerate(captions)]
    stop = threading.Event()

    def keep_rating():
        labels = [["good", "bad"], ["good", "partial"], ["bad", "bad"]]
        for task in tasks:
            if stop.is_set():
                return
            rate(live, task, {a: labels[(task.position + n) % 3] for n, a in enumerate(world.annotators[:3])})

    rater = threading.Thread(target=lambda: (keep_rating(), connection.close()))
    rater.start()
    try:
        time.sleep(0.3)
        runs = [execute_run(create_run([world.three.pk, live.pk], "jsonl").pk) for _ in range(3)]
    finally:
        stop.set()
        rater.join()
    counts = []
    for run in runs:
        rows = [json.loads(line) for line in run.absolute_path.read_text().splitlines()]
        counts.append(len(rows))
        assert run.row_count == len(rows)
        for row in rows:
            votes = Counter(a["label"] for a in row["annotators"])
            assert sum(votes.values()) == 3, "a pair appears only with all its ratings"
            assert votes == Counter({k: row[f"votes_{k}"] for k in ("good", "partial", "bad") if row[f"votes_{k}"]})
    assert counts == sorted(counts) and counts[-1] > 10, "later exports see more rated pairs"


def many_pairs(n_tasks: int):
    """A single-annotator project with 2 * n_tasks rated pairs, bulk-created."""
    world = build_world()
    project = new_project("big", 1)
    dataset = Dataset.objects.get(name="ds")
    items = list(Item.objects.filter(modality="image"))
    captions = Caption.objects.bulk_create(
        [
            Caption(
                dataset=dataset,
                external_id=f"big{i}",
                text=f"a rather long caption number {i} " * 4,
                source_modality="image",
            )
            for i in range(n_tasks)
        ]
    )
    tasks = Task.objects.bulk_create([Task(project=project, caption=c, position=i) for i, c in enumerate(captions)])
    candidates = TaskCandidate.objects.bulk_create(
        [
            TaskCandidate(task=t, item=items[(t.position + s) % len(items)], slot=s, retrieval_rank=s, similarity=0.5)
            for t in tasks
            for s in range(2)
        ],
        batch_size=5000,
    )
    PairResult.objects.bulk_create(
        [
            PairResult(
                project=project,
                task_id=c.task_id,
                candidate=c,
                state="single",
                label="good",
                votes={"good": 1},
                caption_modality="image",
                item_modality="image",
            )
            for c in candidates
        ],
        batch_size=5000,
    )
    return world, project


def test_worker_killed_mid_export_leaves_no_complete_looking_file_and_retry_succeeds(
    running_worker, worker_env, tmp_path
):
    WorkerProcess = type(running_worker)
    _, project = many_pairs(30_000)
    exports = running_worker.media_root / "exports"
    running_worker.stop()
    doomed = WorkerProcess(worker_env, tmp_path / "doomed.log", "doomed").start()
    from tasks.cpu import export_ratings

    run = create_run([project.pk], "jsonl")
    export_ratings.delay(run.pk)
    deadline = time.monotonic() + 120
    while not list(exports.rglob(".tmp-*")):
        assert time.monotonic() < deadline, "the export never started writing"
        time.sleep(0.002)
    os.killpg(doomed.process.pid, signal.SIGSTOP)  # freeze it mid-write, look, then kill it
    try:
        run.refresh_from_db()
        assert run.state == "running" and run.sha256 == "" and run.finished_at is None
        final = run.absolute_path
        assert not final.exists(), "only the temporary name exists while writing"
    finally:
        doomed.kill()
    partial = list(exports.rglob(".tmp-*"))
    assert partial and not final.exists()

    replacement = WorkerProcess(worker_env, tmp_path / "replacement.log", "replacement").start()
    try:
        deadline = time.monotonic() + 120
        while (run := ExportRun.objects.get(pk=run.pk)).state != "succeeded":
            assert run.state != "failed", run.error
            assert time.monotonic() < deadline, "the redelivered export did not finish"
            time.sleep(0.1)
    finally:
        replacement.stop()
    assert run.attempts == 2 and run.row_count == 60_000
    lines = final.read_text().splitlines()
    assert len(lines) == 60_000 and json.loads(lines[-1])["project"] == "big"
    from annotation.export.writer import sha256_of

    assert sha256_of(final) == run.sha256
    assert not list(exports.rglob(".tmp-*")), "the retry removed the leftovers"
