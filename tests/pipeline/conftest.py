"""A small imported dataset for launch tests: images and point clouds, captions from
two sources (some of them toxic), and two embedding spaces."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

DIM = 16
TOXIC = ["you fucking idiot", "shut up you stupid bitch"]


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def dataset_bundle(tmp_path) -> Path:
    rng = np.random.default_rng(7)
    root = tmp_path / "bundle"
    (root / "media").mkdir(parents=True)
    images = [{"id": f"img{i}", "modality": "image", "media": f"https://example.org/{i}.jpg"} for i in range(40)]
    clouds = []
    for i in range(6):
        points = rng.normal(size=(20_000, 3)).astype(np.float32) * [1.0, 0.3 + 0.2 * i, 0.5]
        np.save(root / "media" / f"cloud{i}.npy", points)
        clouds.append({"id": f"cloud{i}", "modality": "point_cloud", "media": f"media/cloud{i}.npy"})
    captions = [
        {"id": f"im-cap{i}", "text": f"a photo of thing number {i}", "source_modality": "image"} for i in range(60)
    ]
    captions += [
        {"id": f"au-cap{i}", "text": f"the sound of thing number {i}", "source_modality": "audio"} for i in range(30)
    ]
    captions += [{"id": f"toxic{i}", "text": text, "source_modality": "image"} for i, text in enumerate(TOXIC)]
    with open(root / "items.jsonl", "w") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in images + clouds)
    with open(root / "captions.jsonl", "w") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in captions)
    caption_vectors = rng.normal(size=(len(captions), DIM)).astype(np.float32)
    image_vectors = rng.normal(size=(len(images), DIM)).astype(np.float32)
    image_vectors[:3] = caption_vectors.mean(axis=0) * 4 + rng.normal(size=(3, DIM)) * 0.1  # heavy hitters
    np.save(root / "captions.npy", caption_vectors)
    np.save(root / "images.npy", image_vectors)
    np.save(root / "clouds.npy", rng.normal(size=(len(clouds), DIM)).astype(np.float32))
    for name, rows in (("captions", captions), ("images", images), ("clouds", clouds)):
        (root / f"{name}.ids.txt").write_text("".join(r["id"] + "\n" for r in rows))
    spaces = [("t-image", "image", "images"), ("t-points", "point_cloud", "clouds")]
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": "launchset",
                "media": "local",
                "items": "items.jsonl",
                "captions": "captions.jsonl",
                "embeddings": [
                    {
                        "space": space,
                        "model": "toy",
                        "dim": DIM,
                        "target_modality": modality,
                        "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                        "items": {"vectors": f"{name}.npy", "ids": f"{name}.ids.txt"},
                    }
                    for space, modality, name in spaces
                ],
            }
        )
    )
    return root


@pytest.fixture
def imported(dataset_bundle, running_worker):
    from annotation.importing import import_bundle

    import_bundle(dataset_bundle)
    return dataset_bundle


@pytest.fixture
def make_project(imported):
    from annotation.models import Dataset, EmbeddingSpace, Project

    def make(name: str = "p", space: str = "t-image", **fields) -> Project:
        space = EmbeddingSpace.objects.get(name=space)
        defaults = {"target_modality": space.target_modality, "sample_size": 20, "item_cap": 8, "seed": 3}
        project = Project.objects.create(name=name, space=space, **{**defaults, **fields})
        project.caption_datasets.set(Dataset.objects.filter(name="launchset"))
        return project

    return make


def _wait_until(predicate, timeout: float = 120, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


@pytest.fixture
def wait_ready():
    from annotation.models import Project

    def wait(project, timeout: float = 180) -> Project:
        def settled():
            project.refresh_from_db()
            return project.state != Project.State.LAUNCHING

        _wait_until(settled, timeout, 0.2, f"project {project.name} to finish launching")
        errors = {s.name: s.error for s in project.stages.exclude(error="")}
        assert project.state == Project.State.READY, (project.state, errors)
        return project

    return wait


@pytest.fixture
def wait_until():
    return _wait_until


@pytest.fixture
def task_signature():
    return _task_signature


def _task_signature(project) -> list:
    """Everything a launch decides, independent of database ids of tasks."""
    rows = []
    for task in project.tasks.order_by("position").prefetch_related("candidates"):
        candidates = [(c.item_id, c.slot, c.retrieval_rank, round(c.similarity, 5)) for c in task.candidates.all()]
        rows.append((task.caption_id, task.paired_item_id, candidates))
    return rows
