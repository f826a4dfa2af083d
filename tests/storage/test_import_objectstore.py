"""Imports, uploads, vector shards and embed runs on the object store (issue 14).

With an object store, web and workers share nothing but PostgreSQL, Redis and the bucket:
an upload is published by the web (this process) and fetched by a worker with its own
MEDIA_ROOT; media and shards become objects that any process reads back through its cache;
a failing re-import leaves every object as it was; vector files are split into shards of
at most PAIRRATE_SHARD_ROWS rows, with the same vectors as on the local backend.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from annotation import storage
from tests.annotation.conftest import random_vectors
from tests.importing.test_import_api import wait_for, zipped
from tests.objectstore import client


def normalised(matrix: np.ndarray) -> np.ndarray:
    """What an import stores: float32 rows divided by their float32 norm."""
    matrix = np.asarray(matrix, np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def objects(object_store) -> dict[str, tuple[str, str]]:
    """Every object under the test's prefix: name -> (sha256 of the bytes, kept sha256)."""
    s3 = client(object_store["PAIRRATE_S3_ENDPOINT_URL"])
    bucket, prefix = object_store["bucket"], object_store["prefix"]
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=entry["Key"])
            found[entry["Key"][len(prefix) + 1 :]] = (
                hashlib.sha256(got["Body"].read()).hexdigest(),
                got["Metadata"].get("sha256", ""),
            )
    return found


def forget_cached_copies() -> None:
    """Read as another machine would: the writer's cached copies are dropped."""
    import shutil

    for entry in storage.get_store().cache.root.glob("*/*"):
        shutil.rmtree(entry)


@pytest.mark.django_db
def test_failing_reimport_leaves_objects_and_rows_unchanged(
    object_store, make_bundle, monkeypatch, media_root, django_capture_on_commit_callbacks
):
    from annotation.importing import BundleError, import_bundle
    from annotation.importing.staging import ObjectStaging
    from tests.annotation.conftest import database_snapshot

    first = import_bundle(make_bundle())
    assert first.media_files_copied == 2
    stored = objects(object_store)
    assert {"datasets/demo-set/media/img0.jpg", "datasets/demo-set/media/img1.jpg"} <= set(stored)
    assert sum(n.startswith("vectors/toy-image/") for n in stored) == 2
    assert all(kept == actual for actual, kept in stored.values())  # the checksum kept is the bytes'
    assert not (media_root / "datasets").exists() and not (media_root / "vectors").exists()
    rows = database_snapshot()

    # Changed media and vectors, published, then the transaction fails: the replaced object
    # is put back from its backup, the new ones go.
    changed = make_bundle(name="changed", item_vectors=random_vectors(4, seed=9))
    (changed / "media" / "img0.jpg").write_bytes(b"other jpeg bytes")
    real_commit, seen = ObjectStaging.commit, {}

    def commit_then_fail(self):
        real_commit(self)
        seen.update(objects(object_store))
        raise OSError("the database went away at commit")

    monkeypatch.setattr(ObjectStaging, "commit", commit_then_fail)
    with pytest.raises(OSError):
        import_bundle(changed)
    assert seen["datasets/demo-set/media/img0.jpg"] != stored["datasets/demo-set/media/img0.jpg"]  # overwritten
    assert objects(object_store) == stored and database_snapshot() == rows
    monkeypatch.setattr(ObjectStaging, "commit", real_commit)

    # A bundle refused inside the transaction changes nothing either.
    wrong_ids = make_bundle(name="wrong", item_vector_ids=["img0", "img1", "img2", "nobody"])
    with pytest.raises(BundleError):
        import_bundle(wrong_ids)
    assert objects(object_store) == stored and database_snapshot() == rows

    # The same re-import succeeds: one media object replaced (the other's bytes are already
    # stored, by its kept sha256), the old shards deleted, the new vectors read back.
    with django_capture_on_commit_callbacks(execute=True):  # unused shards go once it commits
        again = import_bundle(changed)
    assert again.media_files_copied == 1
    after = objects(object_store)
    assert after["datasets/demo-set/media/img1.jpg"] == stored["datasets/demo-set/media/img1.jpg"]
    assert after["datasets/demo-set/media/img0.jpg"][0] == hashlib.sha256(b"other jpeg bytes").hexdigest()
    assert not any(n.startswith(".staging/") for n in after)
    assert not set(n for n in stored if n.startswith("vectors/")) & set(after)
    from annotation.models import EmbeddingSpace
    from annotation.vectors import item_vectors

    forget_cached_copies()
    _, vectors = item_vectors(EmbeddingSpace.objects.get(name="toy-image"))
    np.testing.assert_array_equal(vectors, normalised(random_vectors(4, seed=9)))


@pytest.fixture(params=["local", "s3"])
def backend(request):
    if request.param == "s3":
        request.getfixturevalue("object_store")
    return request.param


@pytest.mark.django_db
def test_vector_files_are_split_into_bounded_shards(backend, make_bundle, settings):
    from annotation.groups.parts import gather
    from annotation.importing import import_bundle
    from annotation.models import CaptionVector, EmbeddingSpace, Item, ItemVector, VectorShard
    from annotation.vectors import item_vectors

    settings.PAIRRATE_SHARD_ROWS = 3
    raw = random_vectors(8, seed=4)
    import_bundle(make_bundle(n_items=8, item_vectors=raw))
    space = EmbeddingSpace.objects.get(name="toy-image")
    shards = list(VectorShard.objects.filter(space=space, side="items").order_by("path"))
    assert [s.rows for s in shards] == [3, 3, 2]
    assert all(ItemVector.objects.filter(shard=s).count() == s.rows for s in shards)
    assert VectorShard.objects.filter(space=space, side="captions").count() == 1  # 3 rows: one shard
    assert CaptionVector.objects.filter(space=space).count() == 3
    for shard in shards:  # each shard keeps its own sha256
        assert hashlib.sha256(shard.absolute_path.read_bytes()).hexdigest() == shard.sha256

    order = {f"img{i}": i for i in range(8)}
    ids, vectors = item_vectors(space)
    external = dict(Item.objects.values_list("id", "external_id"))
    expected = normalised(raw)[[order[external[i]] for i in ids]]
    np.testing.assert_array_equal(vectors, expected)  # the same bits whatever the backend

    if backend == "s3":  # a reader of a few rows fetches only the shard that holds them
        forget_cached_copies()
        before = storage.get_store().cache_stats()
        last = ItemVector.objects.get(space=space, item__external_id="img7")
        from annotation.groups import parts

        parts._shards.clear()
        got = gather(np.array([[last.shard_id, last.row]]), space.dim)
        np.testing.assert_array_equal(got[0], normalised(raw)[7])
        after = storage.get_store().cache_stats()
        assert after["misses"] - before["misses"] == 1
        assert after["bytes_fetched"] - before["bytes_fetched"] == storage.get_store().size(shards[2].path)


@pytest.fixture
def bucket_worker(worker_env, object_store, tmp_path):
    """A worker on the object store with its own MEDIA_ROOT, uploads folder and cache: it
    shares nothing with this process but the database, the broker and the bucket."""
    from tests.storage.s3_workers import start_worker

    worker = start_worker(
        worker_env,
        object_store,
        tmp_path / "worker",
        "bucket-worker",
        PAIRRATE_SHARD_ROWS="2",
        PAIRRATE_SCREEN_AFTER_IMPORT="0",
    )
    yield worker
    worker.stop()


@pytest.mark.django_db(transaction=True)
def test_uploaded_bundle_is_imported_by_a_worker_sharing_only_the_bucket(
    bucket_worker, object_store, tmp_path, make_bundle, media_root, settings
):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from annotation.models import EmbeddingSpace, ImportRun, Item, VectorShard
    from annotation.vectors import caption_vectors, item_vectors

    admin = APIClient()
    admin.force_authenticate(User.objects.create_user("admin", is_staff=True))
    response = admin.post("/api/imports/", {"bundle": zipped(make_bundle())}, format="multipart")
    assert response.status_code == 202, response.content
    source = ImportRun.objects.get(pk=response.json()["id"]).source
    assert source.startswith("uploads/") and source.endswith("/bundle.zip")
    assert not any(Path(settings.PAIRRATE_UPLOAD_ROOT).iterdir())  # the web keeps no copy
    run = wait_for(response.json()["id"])
    assert run.state == "succeeded", (run.state, run.errors)

    names = set(objects(object_store))
    assert {"datasets/demo-set/media/img0.jpg", "datasets/demo-set/media/img1.jpg"} <= names
    space = EmbeddingSpace.objects.get(name="toy-image")
    shards = VectorShard.objects.filter(space=space)
    assert sorted(s.rows for s in shards) == [1, 2, 2, 2]  # 4 items, 3 captions, 2 rows a shard
    assert {s.path for s in shards} <= names
    assert not any(n.startswith(("uploads/", ".staging/")) for n in names)  # removed when it ended
    assert not list((tmp_path / "worker" / "uploads").glob("*-*"))  # fetched and unpacked copies gone
    assert not (media_root / "datasets").exists()  # nothing reached this process's folder

    # This process reads the same vectors from the bucket.
    ids, vectors = item_vectors(space)
    external = dict(Item.objects.values_list("id", "external_id"))
    np.testing.assert_array_equal(vectors, normalised(random_vectors(4, seed=1))[[int(external[i][3:]) for i in ids]])
    _, captions = caption_vectors(space, space.captionvector_set.values_list("caption_id", flat=True))
    assert captions.shape == (3, 8)
    assert storage.local_media(Item.objects.get(external_id="img0").media).read_bytes() == b"jpeg bytes 0"

    # A failing upload is removed from the bucket too, and changes nothing stored.
    before = objects(object_store)
    corrupt = io.BytesIO(b"PK\x03\x04 not really a zip")
    corrupt.name = "bundle.zip"
    failed = wait_for(admin.post("/api/imports/", {"bundle": corrupt}, format="multipart").json()["id"])
    assert failed.state == "failed" and "corrupt archive" in failed.errors[0]["message"]
    assert objects(object_store) == before


@pytest.mark.django_db
def test_embed_run_reads_media_and_writes_plan_and_shards_as_objects(
    object_store, media_root, encoder_roots, eager, settings
):
    from annotation.embedding import runs
    from annotation.models import Caption, Dataset, EmbedRun, Item, VectorShard
    from sampling.encoders import load_encoder
    from tests.embedding.conftest import coco_photos
    from tests.embedding.test_embed_runs import make_space, stored

    settings.PAIRRATE_EMBED_BATCH, settings.PAIRRATE_EMBED_PART_ROWS = 4, 4
    photos = coco_photos()[:3]
    dataset = Dataset.objects.create(name="bucket-photos")
    for i, photo in enumerate(photos):
        storage.publish(photo, f"photos/{i}.jpg", cache=False)  # the copy stays: it is the fixture's
        Item.objects.create(dataset=dataset, modality="image", external_id=f"p{i}", media=f"photos/{i}.jpg")
    Item.objects.create(dataset=dataset, modality="image", external_id="gone", media="photos/none.jpg")
    Caption.objects.create(dataset=dataset, external_id="c0", text="a photo", source_modality="image")
    space = runs.configure_space(make_space(), "clip", str(encoder_roots["clip"]))
    run = eager(dataset, space)
    assert run.state == EmbedRun.State.SUCCEEDED, run.errors
    assert {f["external_id"]: f["reason"] for f in runs.failures(run)} == {"gone": "media file is missing"}

    names = set(objects(object_store))
    assert f"embedding/{run.pk}/plan.npz" in names
    assert {s.path for s in VectorShard.objects.filter(space=space)} <= names
    assert not (media_root / "vectors").exists() and not (media_root / "embedding").exists()
    forget_cached_copies()
    _, vectors = stored(space, "items")
    np.testing.assert_array_equal(
        vectors, load_encoder("clip", encoder_roots["clip"], batch_size=4).embed_media(photos)[1]
    )


@pytest.fixture
def encoder_roots(settings, tmp_path_factory):
    """The tiny clip checkpoint of tests/embedding (built here: its fixtures are per folder)."""
    from annotation.embedding.checkpoints import forget
    from sampling.encoders.tiny import build_clip
    from tests.embedding.conftest import DIM

    root = tmp_path_factory.mktemp("encoders")
    clip = build_clip(root / "clip", dim=DIM)
    settings.PAIRRATE_ENCODER_ROOTS = [root]
    forget()
    yield {"clip": clip, "root": root}
    forget()
