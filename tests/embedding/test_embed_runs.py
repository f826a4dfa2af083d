"""Embed runs: vectors land in shards and mappings like imported ones, all or nothing."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from sampling.encoders import load_encoder

from .conftest import DIM, coco_photos

pytestmark = pytest.mark.django_db

CAPTIONS = [
    "a cat sleeping on a red sofa",
    "two people riding bicycles",
    "a plate of pasta",
    "a bus on a city street",
    "a dog catching a frisbee",
    "a bowl of fruit",
    "a snowy mountain",
]


@pytest.fixture
def eager(monkeypatch, django_capture_on_commit_callbacks):
    """`start(dataset, space)` with tasks run inline where they are sent (the demo's mode)
    and the on-commit hook that queues the plan executed."""
    from annotation.embedding import runs
    from tasks.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)

    def start(dataset, space):
        with django_capture_on_commit_callbacks(execute=True):
            run = runs.start(dataset, space)
        run.refresh_from_db()
        return run

    return start


def make_dataset(media_root, photos, name="photos", extra_items=()):
    from annotation.models import Caption, Dataset, Item

    dataset = Dataset.objects.create(name=name)
    (media_root / "photos").mkdir(exist_ok=True)
    for i, photo in enumerate(photos):
        shutil.copy(photo, media_root / "photos" / f"{i}.jpg")
        Item.objects.create(dataset=dataset, modality="image", external_id=f"photo{i}", media=f"photos/{i}.jpg")
    for external_id, media in extra_items:
        Item.objects.create(dataset=dataset, modality="image", external_id=external_id, media=media)
    for i, text in enumerate(CAPTIONS):
        Caption.objects.create(dataset=dataset, external_id=f"cap{i}", text=text, source_modality="image")
    return dataset


def make_space(name="clip-tiny", dim=DIM, modality="image"):
    from annotation.models import EmbeddingSpace

    return EmbeddingSpace.objects.create(name=name, model_name="", dim=dim, target_modality=modality)


def stored(space, side):
    from annotation.models import Caption
    from annotation.vectors import caption_vectors, item_vectors

    if side == "captions":
        return caption_vectors(space, Caption.objects.values_list("id", flat=True))
    return item_vectors(space)


def test_embed_run_writes_unit_vectors_and_records_undecodable_items(encoder_roots, media_root, eager, settings):
    from annotation.embedding import runs
    from annotation.models import EmbedRun, ItemVector, VectorShard

    settings.PAIRRATE_EMBED_BATCH, settings.PAIRRATE_EMBED_PART_ROWS = 4, 8
    photos = coco_photos()[:10]
    (media_root / "broken.jpg").write_bytes(photos[0].read_bytes()[:200])
    dataset = make_dataset(
        media_root,
        photos,
        extra_items=[
            ("broken", "broken.jpg"),
            ("missing", "photos/none.jpg"),
            ("escape", "../outside.jpg"),
            ("remote", "https://example.org/a.jpg"),
        ],
    )
    space = runs.configure_space(make_space(), "clip", str(encoder_roots["clip"]))
    run = eager(dataset, space)
    assert run.state == EmbedRun.State.SUCCEEDED, run.errors
    assert run.counts["captions_embedded"] == len(CAPTIONS) and run.counts["items_embedded"] == len(photos)
    assert run.parts_done == run.parts_total == 1 + 2  # 7 captions in one part; 14 items in parts of 8
    reasons = {f["external_id"]: f["reason"] for f in runs.failures(run)}
    assert set(reasons) == {"broken", "missing", "escape", "remote"}
    assert "image does not decode" in reasons["broken"] and "missing" in reasons["missing"]
    assert "'..'" in reasons["escape"] and "remote" in reasons["remote"]

    encoder = load_encoder("clip", encoder_roots["clip"], batch_size=4)
    ids, vectors = stored(space, "items")
    assert len(ids) == len(photos) and ItemVector.objects.filter(space=space).count() == len(photos)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[:8], encoder.embed_media(photos[:8])[1])  # part 0: same batches
    _, caption_rows = stored(space, "captions")
    np.testing.assert_array_equal(caption_rows, encoder.embed_texts(CAPTIONS))
    space.refresh_from_db()
    assert space.encoder_fingerprint == encoder.fingerprint and space.encoder_info["dim"] == DIM
    assert space.encoder_info["image"]["size"] == {"height": 32, "width": 32}
    assert VectorShard.objects.filter(space=space).count() == 3

    again = eager(dataset, space)  # only the four failures are tried again, and fail again
    assert again.state == "succeeded" and again.parts_total == 1
    assert again.counts["items_embedded"] == 0 and again.counts["items_failed"] == 4
    assert VectorShard.objects.filter(space=space).count() == 3
    part = run.parts.get(side="items", index=0)
    runs.run_part(run.pk, "items", 0)  # a redelivered finished part changes nothing
    assert ItemVector.objects.filter(space=space).count() == len(photos) and part.embedded == 8


def test_one_part_and_many_parts_give_identical_vectors(encoder_roots, media_root, eager, settings):
    from annotation.embedding import runs

    settings.PAIRRATE_EMBED_BATCH = 4
    dataset = make_dataset(media_root, coco_photos()[:12])
    many, one = make_space("clip-many"), make_space("clip-one")
    for space, part_rows in ((many, 4), (one, 10_000)):
        settings.PAIRRATE_EMBED_PART_ROWS = part_rows
        runs.configure_space(space, "clip", str(encoder_roots["clip"]))
        eager(dataset, space)
    assert many.embed_runs.get().parts_total == 2 + 3 and one.embed_runs.get().parts_total == 2
    for side in ("captions", "items"):
        ids_many, rows_many = stored(many, side)
        ids_one, rows_one = stored(one, side)
        np.testing.assert_array_equal(ids_many, ids_one)
        np.testing.assert_array_equal(rows_many, rows_one)


def test_bad_requests_are_refused_and_change_nothing(encoder_roots, media_root, eager, tmp_path_factory):
    from annotation.embedding import runs
    from annotation.embedding.exceptions import EmbedError
    from annotation.models import CaptionVector, EmbedRun, ItemVector, VectorShard

    dataset = make_dataset(media_root, coco_photos()[:3])
    space = make_space()
    with pytest.raises(EmbedError, match="no encoder"):
        runs.start(dataset, space)
    with pytest.raises(EmbedError, match="embeds audio, but space 'clip-tiny' is text-image"):
        runs.configure_space(space, "clap", str(encoder_roots["clap"]))
    outside = tmp_path_factory.mktemp("elsewhere")
    with pytest.raises(EmbedError, match="not under an allowed encoder root"):
        runs.configure_space(space, "clip", str(outside))
    space.refresh_from_db()
    assert space.encoder_family == "" and not EmbedRun.objects.exists()

    narrow = runs.configure_space(make_space("narrow", dim=8), "clip", str(encoder_roots["clip"]))
    run = eager(dataset, narrow)
    assert run.state == "failed" and "gives 16-d vectors, but space 'narrow' is 8-d" in run.errors[0]

    incomplete = encoder_roots["root"] / "incomplete"
    shutil.copytree(encoder_roots["clip"], incomplete)
    (incomplete / "preprocessor_config.json").unlink()
    run = eager(dataset, runs.configure_space(make_space("incomplete"), "clip", str(incomplete)))
    assert run.state == "failed" and "preprocessor_config.json is missing" in run.errors[0]
    assert not (ItemVector.objects.exists() or CaptionVector.objects.exists() or VectorShard.objects.exists())


def test_a_space_never_mixes_two_models(encoder_roots, media_root, eager):
    """A checkpoint whose bytes changed after the first embed is refused with the reason."""
    from annotation.embedding import runs
    from annotation.embedding.checkpoints import forget
    from annotation.models import Caption, ItemVector

    folder = encoder_roots["root"] / "drifting"
    shutil.copytree(encoder_roots["clip"], folder)
    dataset = make_dataset(media_root, coco_photos()[:3])
    space = runs.configure_space(make_space(), "clip", str(folder))
    eager(dataset, space)
    Caption.objects.create(dataset=dataset, external_id="late", text="a late caption")
    config = folder / "preprocessor_config.json"
    config.write_text(config.read_text().replace("0.48145466", "0.5"))
    forget()
    run = eager(dataset, space)
    assert run.state == "failed" and "changed since this space was embedded" in run.errors[0]
    assert ItemVector.objects.filter(space=space).count() == 3


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_embed_changes_nothing(encoder_roots, running_worker, worker_env, tmp_path):
    """SIGKILL a worker after its first part: the replacement finishes with the same vectors."""
    from annotation.embedding import runs
    from annotation.models import EmbedPart, ItemVector, VectorShard
    from tests.conftest import WorkerProcess

    photos = (coco_photos() * 2)[:40]
    dataset = make_dataset(running_worker.media_root, photos)
    space = runs.configure_space(make_space(), "clip", str(encoder_roots["clip"]))
    running_worker.stop()
    doomed = WorkerProcess(worker_env, tmp_path / "doomed.log", "doomed").start()
    run = runs.start(dataset, space)
    deadline = time.monotonic() + 180
    while not EmbedPart.objects.filter(run=run, side="items", done=True).exists():
        assert time.monotonic() < deadline, (tmp_path / "doomed.log").read_text()[-3000:]
        time.sleep(0.02)
    doomed.kill()
    run.refresh_from_db()
    assert run.state == "running" and run.parts_done < run.parts_total
    replacement = WorkerProcess(worker_env, tmp_path / "replacement.log", "replacement").start()
    try:
        while run.state == "running":
            assert time.monotonic() < deadline + 120, (tmp_path / "replacement.log").read_text()[-3000:]
            time.sleep(0.2)
            run.refresh_from_db()
    finally:
        replacement.stop()
    assert run.state == "succeeded", run.errors
    assert run.parts_total == 1 + 5 and VectorShard.objects.filter(space=space).count() == run.parts_total
    assert ItemVector.objects.filter(space=space).count() == len(photos)
    encoder = load_encoder("clip", encoder_roots["clip"], batch_size=4)
    _, rows = stored(space, "items")
    np.testing.assert_array_equal(rows, encoder.embed_media(photos)[1])
    _, caption_rows = stored(space, "captions")
    np.testing.assert_array_equal(caption_rows, encoder.embed_texts(CAPTIONS))


def test_api_starts_runs_for_admins_only_and_refuses_bad_requests(
    encoder_roots, media_root, admin_user, django_user_model, monkeypatch
):
    from rest_framework.test import APIClient

    from annotation.models import EmbeddingSpace, EmbedRun
    from tasks.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    make_dataset(media_root, coco_photos()[:2])
    make_space()
    annotator = APIClient()
    annotator.force_authenticate(django_user_model.objects.create_user("rater", password="x"))
    body = {"dataset": "photos", "space": "clip-tiny", "family": "clip", "checkpoint": str(encoder_roots["clip"])}
    assert annotator.post("/api/embed-runs/", body, format="json").status_code == 403
    assert annotator.get("/api/embed-runs/").status_code == 403
    admin = APIClient()
    admin.force_authenticate(admin_user)
    refused = admin.post("/api/embed-runs/", {**body, "family": "clap"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "embed_refused"
    assert refused.json()["field"] == "family" and "text-image" in refused.json()["detail"]
    half = admin.post("/api/embed-runs/", {"dataset": "photos", "space": "clip-tiny", "family": "clip"}, format="json")
    assert half.status_code == 400 and "checkpoint" in half.json()["fields"]
    assert EmbeddingSpace.objects.get().encoder_family == "" and not EmbedRun.objects.exists()
    started = admin.post("/api/embed-runs/", body, format="json")
    assert started.status_code == 202, started.json()
    run = admin.get(f"/api/embed-runs/{started.json()['id']}/").json()
    assert run["space"] == "clip-tiny" and run["state"] in ("pending", "running", "succeeded")
    from annotation.models import AuditEntry

    entry = AuditEntry.objects.get(action="embed.start")
    assert entry.actor == admin_user and entry.details["space"] == "clip-tiny"
