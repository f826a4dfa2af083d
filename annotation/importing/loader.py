"""Import a bundle: validate, stage files, write rows, all in one transaction.

Order matters for all-or-nothing: everything that can be checked without the
database is checked first (tables, vectors); references that need the database
(paired items, vector ids) are checked inside the transaction, before commit; files
reach media storage only as the last step inside it and are put back on failure.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import transaction

from .. import planner, storage
from ..models import Caption, CaptionVector, Dataset, EmbeddingSpace, Item, ItemVector, VectorShard
from .layout import ParsedBundle, parse_bundle
from .errors import BundleError, RowError
from .staging import MediaStaging, staging_for
from .vectors import PreparedShard, prepare_shard
from .writers import writer_for

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class ImportSummary:
    dataset: str
    items: int = 0
    captions: int = 0
    media_files_copied: int = 0
    vectors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "items": self.items,
            "captions": self.captions,
            "media_files_copied": self.media_files_copied,
            "vectors": self.vectors,
            "seconds": round(self.seconds, 3),
        }


def import_bundle(
    source: Path | str,
    dataset: str | None = None,
    media_mode: str | None = None,
    progress: Progress | None = None,
    using: str = "default",
) -> ImportSummary:
    """Import (or re-import) a bundle; raises BundleError and changes nothing when invalid."""
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    report("reading tables", 0, 1)
    bundle = parse_bundle(Path(source), dataset, media_mode)
    report("reading tables", 1, 1)
    summary = ImportSummary(bundle.dataset, items=len(bundle.items), captions=len(bundle.captions))
    staging = staging_for(Path(settings.MEDIA_ROOT))
    # Vectors are validated and normalised in a thread (numpy releases the GIL) while
    # the database loads the tables; any error still rolls back both.
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        shards_future = pool.submit(_prepare_vectors, bundle, staging)
        for done, (source_file, relative) in enumerate(bundle.media_files, start=1):
            summary.media_files_copied += staging.stage_copy(source_file, relative)
            if done % 100 == 0 or done == len(bundle.media_files):
                report("staging media", done, len(bundle.media_files))
        with transaction.atomic(using=using):
            dataset = _write_tables(bundle, report, using)
            report("checking vectors", 0, 1)
            shards = shards_future.result()
            _write_vectors(bundle, dataset, shards, summary, report, using)
            staging.commit()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        staging.rollback()
        raise
    pool.shutdown()
    staging.cleanup()
    planner.analyze(Item, Caption, ItemVector, CaptionVector, using=using)  # fresh planner statistics
    summary.seconds = time.perf_counter() - started
    logger.info("import finished", extra={"import": summary.as_dict()})
    return summary


def _prepare_vectors(bundle: ParsedBundle, staging: MediaStaging):
    """Every vector file is checked, and all their errors are raised together."""
    shards: list[tuple[object, str, PreparedShard]] = []
    errors: list[RowError] = []
    for spec in bundle.embeddings:
        for side in ("captions", "items"):
            vector_file = getattr(spec, side)
            if vector_file is None:
                continue

            def place(index: int, count: int, stem=f"vectors/{spec.space}/{side}-{staging.dir.name}"):
                relative = f"{stem}.npy" if count == 1 else f"{stem}-{index:05d}.npy"
                return staging.path_for(relative), relative

            try:
                prepared = prepare_shard(vector_file, spec.dim, place, settings.PAIRRATE_SHARD_ROWS)
            except BundleError as exc:
                errors.extend(exc.errors)
                continue
            for piece in prepared.pieces:  # new names: on an object store, uploaded while the tables load
                staging.publish_new(piece.path, piece.relative, piece.sha256)
            shards.append((spec, side, prepared))
    if errors:
        raise BundleError(errors)
    return shards


def _write_tables(bundle: ParsedBundle, report: Progress, using: str) -> Dataset:
    writer = writer_for(using)
    dataset, _ = Dataset.objects.using(using).update_or_create(
        name=bundle.dataset, defaults={"description": bundle.description}
    )
    report("writing items", 0, len(bundle.items))
    writer.upsert_items(dataset.id, bundle.items)
    report("writing captions", 0, len(bundle.captions))
    errors = writer.upsert_captions(dataset.id, bundle.captions)
    if errors:
        raise BundleError(errors)
    return dataset


def _write_vectors(
    bundle: ParsedBundle, dataset: Dataset, shards, summary: ImportSummary, report: Progress, using: str
) -> None:
    writer = writer_for(using)
    for spec, side, prepared in shards:
        report(f"mapping vectors {spec.space}/{side}", 0, prepared.rows)
        space = _space_for(spec, using)
        missing = []
        for piece in prepared.pieces:  # one shard row per piece; rows count within the piece
            shard = VectorShard.objects.using(using).create(
                space=space, side=side, path=piece.relative, rows=piece.rows, sha256=piece.sha256
            )
            missing += writer.map_vectors(
                side, dataset.id, space, shard.id, prepared.ids[piece.first : piece.first + piece.rows]
            )
        if missing:
            vector_file = getattr(spec, side)
            kind = "caption" if side == "captions" else f"{space.target_modality} item"
            lines = {external_id: line for line, external_id in enumerate(prepared.ids, start=1)}
            raise BundleError(
                [
                    RowError(
                        vector_file.ids_name, lines[m], None, f"no {kind} with id {m!r} in dataset {bundle.dataset!r}"
                    )
                    for m in missing
                ]
            )
        summary.vectors[f"{spec.space}/{side}"] = prepared.rows
    report("removing replaced shards", 0, 1)
    _drop_unused_shards(using)
    report("committing", 0, 1)


def _space_for(spec, using: str) -> EmbeddingSpace:
    space, created = EmbeddingSpace.objects.using(using).get_or_create(
        name=spec.space, defaults={"model_name": spec.model, "dim": spec.dim, "target_modality": spec.target_modality}
    )
    if not created and (space.dim, space.target_modality, space.model_name) != (
        spec.dim,
        spec.target_modality,
        spec.model,
    ):
        raise BundleError(
            [
                RowError(
                    "pairrate.json",
                    None,
                    "embeddings",
                    f"space {spec.space!r} exists as {space}; the bundle says "
                    f"{spec.model}, {spec.dim}-d, text-{spec.target_modality}",
                )
            ]
        )
    return space


def _drop_unused_shards(using: str) -> None:
    """A re-import re-points rows to its new shards; files of shards left empty go from
    storage once the transaction commits (a store outage then leaves them, logged)."""
    unused = VectorShard.objects.using(using).filter(itemvector__isnull=True, captionvector__isnull=True)
    names = [shard.path for shard in unused]
    unused.delete()
    transaction.on_commit(lambda: _delete_shard_files(names), using=using)


def _delete_shard_files(names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except storage.StorageError:
            logger.warning("unused vector shard left in storage", extra={"shard": name})
