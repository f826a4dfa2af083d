"""Plan, run and finish EmbedRuns (see the package docstring)."""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import storage
from ..jobs import send
from ..media_paths import is_remote_url
from ..models import Caption, CaptionVector, Dataset, EmbeddingSpace, EmbedPart, EmbedRun, Item, ItemVector, VectorShard
from .checkpoints import confined_checkpoint, encoder_for
from .exceptions import EmbedError

log = logging.getLogger(__name__)
MAX_RECORDED_FAILURES = 1000


def configure_space(space: EmbeddingSpace, family: str, checkpoint: str) -> EmbeddingSpace:
    """Point a space at an encoder; refused when the family embeds another modality or the
    space already recorded a different model."""
    from sampling.encoders import FAMILIES

    if family not in FAMILIES:
        raise EmbedError(f"unknown encoder family {family!r}; use one of {', '.join(FAMILIES)}", "family")
    if FAMILIES[family] != space.target_modality:
        raise EmbedError(
            f"family {family!r} embeds {FAMILIES[family]}, but space {space.name!r} is text-{space.target_modality}",
            "family",
        )
    folder = str(confined_checkpoint(checkpoint))
    if space.encoder_fingerprint and (space.encoder_family, space.encoder_path) != (family, folder):
        raise EmbedError(
            f"space {space.name!r} already holds vectors of {space.encoder_family} at "
            f"{space.encoder_path}; create a new space for another model",
            "checkpoint",
        )
    space.encoder_family, space.encoder_path = family, folder
    space.save(update_fields=["encoder_family", "encoder_path"])
    return space


def start(dataset: Dataset, space: EmbeddingSpace, user=None) -> EmbedRun:
    """Create a run and queue its plan; refused (nothing created) when the space has no encoder
    or a run of the same dataset and space is still going."""
    if not space.encoder_family:
        raise EmbedError(f"space {space.name!r} has no encoder; configure one first", "space")
    with transaction.atomic():
        busy = EmbedRun.objects.select_for_update().filter(
            dataset=dataset, space=space, state__in=[EmbedRun.State.PENDING, EmbedRun.State.RUNNING]
        )
        if busy.exists():
            raise EmbedError(f"an embed run of {dataset.name} in {space.name} is already going", "space", 409)
        run = EmbedRun.objects.create(dataset=dataset, space=space, created_by=user)
    transaction.on_commit(lambda: send("tasks.gpu.embed_plan", run.pk))
    return run


def _plan_name(run: EmbedRun) -> str:
    """The plan's storage name: every part's worker reads it (through its cache)."""
    return f"embedding/{run.pk}/plan.npz"


def _save_plan(run: EmbedRun, captions: np.ndarray, items: np.ndarray) -> None:
    with storage.writing(_plan_name(run)) as temp:
        with open(temp, "wb") as stream:
            np.savez(stream, captions=captions, items=items)


def _load_plan(run: EmbedRun) -> dict[str, np.ndarray]:
    with np.load(storage.local_path(_plan_name(run)), allow_pickle=False) as data:
        return {"captions": data["captions"], "items": data["items"]}


def _fail(run: EmbedRun, message: str) -> None:
    EmbedRun.objects.filter(pk=run.pk).update(state=EmbedRun.State.FAILED, errors=[message], finished_at=timezone.now())


def plan(run_id: int) -> None:
    """Load and check the encoder, fix which rows each part embeds, queue the parts.

    Idempotent: a run already planned only re-queues its unfinished parts."""
    run = EmbedRun.objects.select_related("space", "dataset").get(pk=run_id)
    if run.state in (EmbedRun.State.SUCCEEDED, EmbedRun.State.FAILED):
        return
    if run.state == EmbedRun.State.RUNNING:
        for part in run.parts.filter(done=False):
            send("tasks.gpu.embed_part", run.pk, part.side, part.index)
        return
    space = run.space
    from sampling.encoders import EncoderError

    try:
        encoder = encoder_for(space)
    except (EncoderError, EmbedError) as exc:
        return _fail(run, f"encoder of space {space.name!r}: {exc}")
    if encoder.dim != space.dim:
        return _fail(
            run,
            f"the {space.encoder_family} model at {space.encoder_path} gives {encoder.dim}-d "
            f"vectors, but space {space.name!r} is {space.dim}-d",
        )
    if space.encoder_fingerprint and space.encoder_fingerprint != encoder.fingerprint:
        return _fail(
            run,
            f"the checkpoint at {space.encoder_path} changed since this space was embedded "
            f"(fingerprint {encoder.fingerprint[:12]}, recorded {space.encoder_fingerprint[:12]}); "
            f"a space holds one model's vectors: create a new space",
        )
    captions = np.array(
        Caption.objects.filter(dataset=run.dataset)
        .exclude(id__in=CaptionVector.objects.filter(space=space).values("caption_id"))
        .order_by("id")
        .values_list("id", flat=True),
        dtype=np.int64,
    )
    items = np.array(
        Item.objects.filter(dataset=run.dataset, modality=space.target_modality)
        .exclude(id__in=ItemVector.objects.filter(space=space).values("item_id"))
        .order_by("id")
        .values_list("id", flat=True),
        dtype=np.int64,
    )
    _save_plan(run, captions, items)
    # Parts hold whole batches, so batch boundaries (and so every vector's bits) are the same
    # however the rows are split into parts.
    batch = settings.PAIRRATE_EMBED_BATCH
    part_rows = max(batch, -(-settings.PAIRRATE_EMBED_PART_ROWS // batch) * batch)
    parts = [
        EmbedPart(run=run, side=side, index=i, first=first, rows=min(part_rows, len(ids) - first))
        for side, ids in (("captions", captions), ("items", items))
        for i, first in enumerate(range(0, len(ids), part_rows))
    ]
    with transaction.atomic():
        if not space.encoder_fingerprint:
            EmbeddingSpace.objects.filter(pk=space.pk).update(
                encoder_fingerprint=encoder.fingerprint,
                encoder_info=encoder.describe(),
                model_name=space.model_name or encoder.describe()["model_name"],
            )
        EmbedPart.objects.bulk_create(parts)
        EmbedRun.objects.filter(pk=run.pk).update(
            state=EmbedRun.State.RUNNING,
            parts_total=len(parts),
            counts={"captions_planned": len(captions), "items_planned": len(items), "batch": batch},
        )
    if not parts:
        _finish(run.pk)
    for part in parts:
        send("tasks.gpu.embed_part", run.pk, part.side, part.index)


def run_part(run_id: int, side: str, index: int) -> None:
    """Embed one part; all or nothing (its shard and mapping land in one transaction)."""
    part = EmbedPart.objects.select_related("run__space").get(run_id=run_id, side=side, index=index)
    run = part.run
    if part.done or run.state != EmbedRun.State.RUNNING:
        return
    space = run.space
    ids = _load_plan(run)[side][part.first : part.first + part.rows]
    encoder = encoder_for(space, run.counts["batch"])
    if encoder.fingerprint != space.encoder_fingerprint:
        return _fail(run, f"the checkpoint at {space.encoder_path} changed while the run was going")
    if side == "captions":
        texts = dict(Caption.objects.filter(id__in=ids.tolist()).values_list("id", "text"))
        kept = np.array([i for i in ids if i in texts], dtype=np.int64)  # a caption deleted meanwhile is skipped
        vectors = encoder.embed_texts([texts[i] for i in kept])
        failures = []
    else:
        kept, vectors, failures = _embed_items(encoder, ids)
    relative = f"vectors/{space.name}/embed-{run.pk}-{side}-{index:05d}.npy"
    sha256 = _write_shard(relative, vectors) if len(kept) else ""
    with transaction.atomic():
        locked = EmbedPart.objects.select_for_update().get(pk=part.pk)
        if locked.done:  # a redelivered copy finished first
            return
        if len(kept):  # a part whose every item failed writes no shard
            shard = VectorShard.objects.create(space=space, side=side, path=relative, rows=len(kept), sha256=sha256)
            model, key = (CaptionVector, "caption_id") if side == "captions" else (ItemVector, "item_id")
            model.objects.bulk_create(
                [model(space=space, shard=shard, row=row, **{key: int(owner)}) for row, owner in enumerate(kept)],
                batch_size=5000,
                ignore_conflicts=True,
            )
        locked.done, locked.embedded, locked.failures = True, len(kept), failures[:MAX_RECORDED_FAILURES]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["done", "embedded", "failures", "finished_at"])
        EmbedRun.objects.filter(pk=run.pk).update(parts_done=F("parts_done") + 1)
    _finish(run.pk)


def _embed_items(encoder, ids: np.ndarray):
    """Vectors of the items that decode; the others are recorded with their reason."""
    rows = Item.objects.filter(id__in=ids.tolist()).values_list("id", "media", "external_id")
    media, external = {}, {}
    for item_id, value, external_id in rows:
        media[item_id], external[item_id] = value, external_id
    paths, owners, failures = [], [], []
    for item_id in ids.tolist():
        value = media.get(item_id)
        reason = None
        if value is None:
            continue  # deleted meanwhile
        if not value:
            reason = "no media"
        elif is_remote_url(value) and not (value.lower().startswith("s3://") and storage.is_object_store()):
            reason = "remote media are not embedded (import their vectors, or store the files locally)"
        else:
            try:  # read through the storage cache on an object store (s3:// media in place too)
                path = storage.local_media(value)
                if not path.is_file():
                    reason = "media file is missing"
            except FileNotFoundError:
                reason = "media file is missing"
            except ValueError as exc:  # UnsafeMediaPath, or remote media of another bucket's kind
                reason = str(exc)
        if reason:
            failures.append({"id": item_id, "external_id": external[item_id], "reason": reason})
        else:
            paths.append(path)
            owners.append(item_id)
    indices, vectors, decode_failures = encoder.embed_media(paths)
    for index, reason in decode_failures:
        failures.append({"id": owners[index], "external_id": external[owners[index]], "reason": reason})
    failures.sort(key=lambda f: f["id"])
    return np.asarray(owners, np.int64)[indices] if len(indices) else np.zeros(0, np.int64), vectors, failures


def _write_shard(relative: str, vectors: np.ndarray) -> str:
    """Write the shard to storage atomically (published whole, or not at all); returns its
    sha256."""
    from ..importing.vectors import file_sha256

    with storage.writing(relative) as temp:
        with open(temp, "wb") as stream:
            np.save(stream, np.ascontiguousarray(vectors, dtype=np.float32))
        digest = file_sha256(temp)
    return digest


def _finish(run_id: int) -> None:
    """Mark the run succeeded once every part is done, with its totals (idempotent)."""
    with transaction.atomic():
        run = EmbedRun.objects.select_for_update().get(pk=run_id)
        if run.state != EmbedRun.State.RUNNING or run.parts.filter(done=False).exists():
            return
        parts = list(run.parts.all())
        failed = sum(len(p.failures) for p in parts)
        run.counts = {
            **run.counts,
            "captions_embedded": sum(p.embedded for p in parts if p.side == "captions"),
            "items_embedded": sum(p.embedded for p in parts if p.side == "items"),
            "items_failed": failed,
        }
        run.state, run.finished_at = EmbedRun.State.SUCCEEDED, timezone.now()
        run.save(update_fields=["counts", "state", "finished_at"])
    log.info("embed run %s finished: %s", run_id, run.counts)


def failures(run: EmbedRun) -> list[dict]:
    """Every item skipped by the run, with its reason (capped per part)."""
    return [failure for part in run.parts.filter(side="items") for failure in part.failures]
