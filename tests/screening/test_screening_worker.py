"""On a real worker: an API import queues screening in parts, the import result counts
it, failed media are left out of matching unless the project includes them, and
re-screening through the API gives the same statuses."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.models import ImportRun, Item, Project, ScreeningRun, TaskCandidate
from annotation.pipeline import runner
from tests.screening.conftest import COCO

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
DIM = 8
GOOD = ["coco-a", "coco-b", "carphone", "constant-rate", "bell", "ant", "cube"]
BROKEN = [
    "coco-truncated",
    "coco-garbled",
    "variable-rate",
    "bikes-truncated",
    "bell-truncated",
    "malformed-obj",
    "nan-cloud",
]


def wait_for(predicate, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def bundle(tmp_path, media_cases):
    """Good and broken media of every modality; images have vectors in one space, and
    the two broken photos sit closest to every caption (they would be matched first)."""
    root = tmp_path / "bundle"
    (root / "media").mkdir(parents=True)
    files = {name: media_cases[name][:2] for name in GOOD + BROKEN}
    files.update({f"coco-{i}": ("image", path) for i, path in enumerate(sorted(COCO.glob("*.jpg"))[10:14])})
    items = []
    for name, (modality, path) in files.items():
        target = root / "media" / f"{name}{path.suffix}"
        shutil.copy(path, target)
        items.append({"id": name, "modality": modality, "media": f"media/{target.name}"})
    images = [r["id"] for r in items if r["modality"] == "image"]
    rng = np.random.default_rng(5)
    captions = rng.normal(size=(30, DIM)).astype(np.float32)
    vectors = rng.normal(size=(len(images), DIM)).astype(np.float32)
    for row, name in enumerate(images):
        if name in BROKEN:
            vectors[row] = captions.mean(axis=0) * 5 + rng.normal(size=DIM) * 0.01
    np.save(root / "captions.npy", captions)
    np.save(root / "images.npy", vectors)
    (root / "captions.ids.txt").write_text("".join(f"cap{i}\n" for i in range(30)))
    (root / "images.ids.txt").write_text("".join(f"{n}\n" for n in images))
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (root / "captions.jsonl").write_text(
        "".join(
            json.dumps({"id": f"cap{i}", "text": f"a photo of thing {i}", "source_modality": "image"}) + "\n"
            for i in range(30)
        )
    )
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": "screenset",
                "media": "local",
                "items": "items.jsonl",
                "captions": "captions.jsonl",
                "embeddings": [
                    {
                        "space": "s-image",
                        "model": "toy",
                        "dim": DIM,
                        "target_modality": "image",
                        "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                        "items": {"vectors": "images.npy", "ids": "images.ids.txt"},
                    }
                ],
            }
        )
    )
    return root


def launch(name: str, **fields) -> set[int]:
    """Launch a project on the screened dataset; the item ids among its candidates."""
    from annotation.models import Dataset, EmbeddingSpace

    project = Project.objects.create(
        name=name,
        space=EmbeddingSpace.objects.get(name="s-image"),
        target_modality="image",
        sample_size=10,
        k=4,
        candidates_per_task=2,
        item_cap=30,
        seed=1,
        nsfw_backend="none",
        **fields,
    )
    project.caption_datasets.set(Dataset.objects.filter(name="screenset"))
    runner.launch(project.id)
    wait_for(lambda: Project.objects.get(pk=project.id).state != Project.State.LAUNCHING, 180, f"launch {name}")
    project.refresh_from_db()
    assert project.state == Project.State.READY, {s.name: s.error for s in project.stages.all()}
    return set(TaskCandidate.objects.filter(task__project=project).values_list("item_id", flat=True))


def test_import_screens_in_parts_and_matching_leaves_failures_out(bundle, running_worker):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("boss", is_staff=True))
    response = client.post("/api/imports/", {"path": str(bundle)}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    run = wait_for(
        lambda: (r := ImportRun.objects.get(pk=run_id)).counts.get("screened_ok") is not None and r,
        120,
        "the import's screening",
    )
    n_items = len(GOOD) + len(BROKEN) + 4
    assert run.state == "succeeded" and run.counts["items"] == n_items
    assert (run.counts["screened_ok"], run.counts["screened_failed"]) == (n_items - len(BROKEN), len(BROKEN))
    screening = ScreeningRun.objects.get(import_run=run)
    assert len(screening.bounds) == len(screening.done_parts) == -(-n_items // 4)  # parts of 4 (tests/conftest.py)
    assert screening.progress == 1.0 and screening.counts["pending"] == 0

    items = {i.external_id: i for i in Item.objects.filter(dataset__name="screenset")}
    assert "variable frame rate" in items["variable-rate"].screen_reason
    assert "corrupt JPEG" in items["coco-truncated"].screen_reason
    assert "non-finite coordinates" in items["nan-cloud"].screen_reason
    assert all(items[n].screen_status == "ok" for n in GOOD)
    failed_images = {items[n].id for n in ("coco-truncated", "coco-garbled")}

    assert not launch("screened") & failed_images
    assert launch("with-failures", include_failed_media=True) & failed_images

    # Re-screening from the datasets screen's endpoint: same statuses, same reasons.
    before = {i.external_id: (i.screen_status, i.screen_reason) for i in items.values()}
    dataset_id = items["coco-a"].dataset_id
    assert client.post(f"/api/datasets/{dataset_id}/screening/").status_code == 202
    wait_for(
        lambda: ScreeningRun.objects.filter(dataset_id=dataset_id, state="succeeded").count() == 2,
        120,
        "the re-screening",
    )
    after = {i.external_id: (i.screen_status, i.screen_reason) for i in Item.objects.filter(dataset_id=dataset_id)}
    assert after == before
    # The command on the workers (--queue) watches the run to its end: the same again.
    call_command("screen_media", "--dataset", "screenset", "--queue", "--no-progress")
    assert ScreeningRun.objects.filter(dataset_id=dataset_id, state="succeeded").count() == 3
    assert {
        i.external_id: (i.screen_status, i.screen_reason) for i in Item.objects.filter(dataset_id=dataset_id)
    } == before
    assert client.get(f"/api/datasets/{dataset_id}/screening/").json()["counts"]["failed"] == len(BROKEN)
