"""Launching projects end to end on PostgreSQL + Redis + a real Celery worker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation.models import Caption, Item, PipelineStage, TaskCandidate
from annotation.pipeline import runner

pytestmark = pytest.mark.django_db(transaction=True)


def reference_choice(bundle: Path, caption_external_ids: list[str], k: int, m: int, cap: int) -> dict:
    """Brute force: exact top-k by cosine, then one global greedy pass in descending similarity."""

    def load(name):
        ids = (bundle / f"{name}.ids.txt").read_text().split()
        vectors = np.load(bundle / f"{name}.npy").astype(np.float64)
        return ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    caption_ids, caption_vectors = load("captions")
    item_ids, item_vectors = load("images")
    rows = [caption_ids.index(c) for c in caption_external_ids]
    similarity = caption_vectors[rows] @ item_vectors.T
    pairs = [(similarity[r, j], r, j) for r in range(len(rows)) for j in np.argsort(-similarity[r])[:k]]
    taken, used = {r: [] for r in range(len(rows))}, Counter()
    for _, r, j in sorted(pairs, key=lambda p: -p[0]):
        if len(taken[r]) < m and used[j] < cap:
            taken[r].append(item_ids[j])
            used[j] += 1
    return {caption_external_ids[r]: items for r, items in taken.items() if len(items) == m}


def test_launch_whole_pool_excludes_toxic_caps_items_and_picks_true_top(
    make_project, imported, running_worker, wait_ready
):
    project = make_project("whole-pool", sample_size=92, item_cap=8)
    runner.launch(project.id)
    wait_ready(project)

    tasks = list(project.tasks.select_related("caption").order_by("position"))
    texts = {t.caption.text for t in tasks}
    assert not texts & {"you fucking idiot", "shut up you stupid bitch"}
    filter_stage = project.stages.get(name="filter")
    assert filter_stage.counts["dropped"] == 2 and filter_stage.counts["kept"] == 90
    assert all(t.nsfw_scores["profanity"] < 0.5 for t in tasks)

    use = Counter(TaskCandidate.objects.filter(task__project=project).values_list("item_id", flat=True))
    assert max(use.values()) == 8, "the heavy hitters should be capped exactly at the cap"

    kept = Caption.objects.exclude(external_id__startswith="toxic").order_by("id")
    expected = reference_choice(imported, [c.external_id for c in kept], k=16, m=3, cap=8)
    external = dict(Item.objects.values_list("id", "external_id"))
    chosen = {t.caption.external_id: [external[c.item_id] for c in t.candidates.order_by("slot")] for t in tasks}
    assert {c: sorted(i) for c, i in chosen.items()} == {c: sorted(i) for c, i in expected.items()}
    for task in tasks:
        similarities = [c.similarity for c in task.candidates.order_by("slot")]
        assert similarities == sorted(similarities, reverse=True)

    assert all(stage.state == "succeeded" and stage.finished_at for stage in project.stages.all())


def test_sample_is_split_evenly_across_caption_sources(make_project, running_worker, wait_ready):
    project = make_project("even-split", sample_size=20, nsfw_backend="none")
    runner.launch(project.id)
    wait_ready(project)
    curate = project.stages.get(name="curate").counts
    assert curate["per_source"] == {"audio": {"pool": 30, "sampled": 10}, "image": {"pool": 62, "sampled": 10}}
    sources = Counter(project.tasks.values_list("caption__source_modality", flat=True))
    assert sources == {"audio": 10, "image": 10}


def test_point_cloud_candidates_get_renders(make_project, running_worker, wait_ready):
    project = make_project("clouds", space="t-points", sample_size=10, k=6, item_cap=10)
    runner.launch(project.id)
    wait_ready(project)
    items = set(TaskCandidate.objects.filter(task__project=project).values_list("item_id", flat=True))
    assert items and project.tasks.count() == 10
    for item_id in items:
        folder = running_worker.media_root / "renders" / str(item_id)
        views = sorted(p.name for p in folder.glob("view_*.webp"))
        assert len(views) == 8
        with Image.open(folder / "sheet.webp") as sheet, Image.open(folder / views[0]) as view:
            assert view.size == (512, 512) and sheet.width > 512
        # the browser's 3D view reads .npy only, whatever the item's own format
        points = np.load(folder / "points.npy")
        assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 3
        assert 0 < len(points) <= 50_000 and np.linalg.norm(points, axis=1).max() <= 1.0 + 1e-5
    media = project.stages.get(name="media")
    assert media.counts["made"] == len(items) and media.counts["missing"] == 0


def test_worker_killed_during_render_stage_gives_the_same_tasks(
    make_project, running_worker, worker_env, wait_ready, wait_until, task_signature, tmp_path
):
    WorkerProcess = type(running_worker)

    reference = make_project("uninterrupted", space="t-points", sample_size=10, k=6, item_cap=10)
    runner.launch(reference.id)
    wait_ready(reference)
    # A second project with the same settings renders into fresh folders: clear the renders.
    import shutil

    shutil.rmtree(running_worker.media_root / "renders")

    running_worker.stop()
    doomed = WorkerProcess(worker_env, tmp_path / "doomed.log", "doomed").start()
    project = make_project("interrupted", space="t-points", sample_size=10, k=6, item_cap=10)
    runner.launch(project.id)

    def rendering():
        stage = PipelineStage.objects.get(project=project, name="media")
        return stage.state == "running" and stage.counts.get("parts")

    wait_until(rendering, 120, 0.02, "the media stage to start")
    doomed.kill()
    project.refresh_from_db()
    assert project.state == "launching"
    assert project.stages.get(name="media").state == "running"

    replacement = WorkerProcess(worker_env, tmp_path / "replacement.log", "replacement").start()
    try:
        wait_ready(project, timeout=240)
    finally:
        replacement.stop()
    assert task_signature(project) == task_signature(reference)
    assert project.tasks.count() == 10
    for item_id in set(TaskCandidate.objects.filter(task__project=project).values_list("item_id", flat=True)):
        folder = running_worker.media_root / "renders" / str(item_id)
        assert len(list(folder.glob("view_*.webp"))) == 8 and (folder / "sheet.webp").is_file()
    assert not list(running_worker.media_root.rglob(".tmp-*")), "no half-written files left behind"


def test_match_split_into_parts_merges_to_the_same_tasks(make_project, monkeypatch, task_signature):
    """A pool searched in chunks by several `gpu` parts and merged gives the single-search result.
    (Runs in-process, Celery eager, so the part size can be shrunk for the test.)"""
    from annotation.pipeline import stages
    from tasks.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    whole = make_project("one-part", sample_size=30, nsfw_backend="none")
    runner.launch(whole.id)
    monkeypatch.setattr(stages, "MATCH_PART_ROWS", 7)
    split = make_project("six-parts", sample_size=30, nsfw_backend="none")
    runner.launch(split.id)

    whole.refresh_from_db()
    split.refresh_from_db()
    assert whole.state == split.state == "ready"
    assert whole.stages.get(name="match").counts["parts"] == 1
    assert split.stages.get(name="match").counts["parts"] == 6  # 40 images in chunks of 7
    assert task_signature(split) == task_signature(whole) and len(task_signature(whole)) > 0
