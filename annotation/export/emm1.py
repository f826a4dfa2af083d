"""`emm1`: the E-MM1 1M-split layout, as one `.zip`, importable back as it is.

`triplets.csv` holds one line per pair with a consensus label (`1` good, `2` partial,
`3` bad); `infos/{text,image,video,audio,points}.csv` hold the captions and items those
lines reference (candidates, the tasks' paired items and the captions' paired items),
with the columns annotation.importing.emm1 reads. With option `vectors` = `include` (the
default), every embedding space holding vectors of those captions or items adds
`embeddings/<space>/{captions,items}.{npy,ids.txt}` and a `pairrate.json` naming them, so
the unzipped folder re-imports with its vectors in one `import_dataset`. Everything is
sorted by external ids, not database ids, so exporting what an import of this file
produced gives the same bytes.
"""

from __future__ import annotations

import csv
import json
import posixpath
import zipfile
from pathlib import Path

import numpy as np
from django.db.models import Q

from ..importing.emm1 import BASE_COLUMNS, EXTRA_COLUMNS, MEDIA_FILES
from ..models import Caption, CaptionVector, EmbeddingSpace, Item, ItemVector, VectorShard
from .rows import ExportSource, sql_csv_row, sql_csv_value, sql_literal
from .writer import zip_binary_member, zip_text_member

EXTENSION = "zip"
OPTIONS = {"vectors": ("include", "exclude")}
VECTOR_CHUNK = 65536
ANNOTATION = {"good": "1", "partial": "2", "bad": "3"}
TRIPLET_COLUMNS = [
    "encord_text_id",
    "paired_modality",
    "annotated_modality",
    "encord_paired_id",
    "encord_annotated_id",
    "annotation",
]
TEXT_COLUMNS = ["encord_text_id", "caption", "source_dataset", "dataset_license", "paired_modality", "encord_paired_id"]
STEM = {modality: stem for stem, modality in MEDIA_FILES.items()}  # point_cloud -> points
ORDER = ("task__caption__external_id", "candidate__item__external_id", "project__name", "candidate_id")


def write(source: ExportSource, path: Path, options: dict) -> int:
    labelled = source.pairs().filter(label__in=list(ANNOTATION))
    with zipfile.ZipFile(path, "w") as archive:
        if source.renders_sql:
            with zip_binary_member(archive, "triplets.csv") as out:
                count = _write_rendered_triplets(out, source, labelled)
        else:
            with zip_text_member(archive, "triplets.csv") as out:
                count = _write_triplets(csv.writer(out), source, labelled)
        _write_captions(archive, source, labelled)
        for modality, stem in STEM.items():
            _write_items(archive, source, labelled, modality, stem)
        if options.get("vectors", "include") == "include":
            _write_vectors(archive, source, labelled)
    return count


def _write_triplets(writer, source: ExportSource, labelled) -> int:
    writer.writerow(TRIPLET_COLUMNS)
    count = 0
    for row in source.rows(labelled, order=ORDER, with_annotators=False):
        paired_modality = row["paired_item_modality"]
        writer.writerow(
            [
                row["caption_id"],
                STEM.get(paired_modality, ""),
                STEM[row["item_modality"]],
                row["paired_item_id"] or "",
                row["item_id"],
                ANNOTATION[row["label"]],
            ]
        )
        count += 1
    return count


def _render_triplet(columns: dict[str, str]) -> str:
    """A triplets.csv line as _write_triplets writes it (PostgreSQL)."""

    def mapped(expr: str, mapping: dict[str, str]) -> str:
        cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in mapping.items())
        return f"CASE ({expr})::text {cases} ELSE '' END"

    return sql_csv_row(
        [
            sql_csv_value("caption_id", columns["caption_id"]),
            mapped(columns["paired_item_modality"], STEM),
            mapped(columns["item_modality"], STEM),
            sql_csv_value("paired_item_id", columns["paired_item_id"]),
            sql_csv_value("item_id", columns["item_id"]),
            mapped(columns["label"], ANNOTATION),
        ]
    )


def _write_rendered_triplets(out, source: ExportSource, labelled) -> int:
    out.write((",".join(TRIPLET_COLUMNS) + "\r\n").encode())
    count = 0
    for lines, rows in source.lines(_render_triplet, labelled, order=ORDER, with_annotators=False):
        out.write(lines)
        count += rows
    return count


def _write_captions(archive: zipfile.ZipFile, source: ExportSource, labelled) -> None:
    captions = (
        Caption.objects.filter(pk__in=labelled.values("task__caption_id"))
        .order_by("external_id", "pk")
        .values_list(
            "external_id",
            "text",
            "source_dataset",
            "license",
            "source_modality",
            "paired_item__modality",
            "paired_item__external_id",
        )
        .iterator(chunk_size=source.chunk_size)
    )
    with zip_text_member(archive, "infos/text.csv") as out:
        writer = csv.writer(out)
        writer.writerow(TEXT_COLUMNS)
        for external_id, text, dataset, license_, source_modality, paired_modality, paired_id in captions:
            modality = STEM.get(paired_modality or source_modality, "")
            writer.writerow([external_id, text, dataset, license_, modality, paired_id or ""])


def _referenced_items(labelled) -> Q:
    return (
        Q(pk__in=labelled.values("candidate__item_id"))
        | Q(pk__in=labelled.values("task__paired_item_id"))
        | Q(pk__in=labelled.values("task__caption__paired_item_id"))
    )


def _write_items(archive: zipfile.ZipFile, source: ExportSource, labelled, modality: str, stem: str) -> None:
    """Only files with rows are written (an empty table is left out, as in a release)."""
    items = (
        Item.objects.filter(_referenced_items(labelled), modality=modality)
        .order_by("external_id", "pk")
        .values_list("external_id", "source_dataset", "license", "media", "metadata")
        .iterator(chunk_size=source.chunk_size)
    )
    columns = [f"encord_{stem}_id", *BASE_COLUMNS, *EXTRA_COLUMNS[stem]]
    first = next(items, None)
    if first is None:
        return
    with zip_text_member(archive, f"infos/{stem}.csv") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for external_id, dataset, license_, media, metadata in _chain(first, items):
            writer.writerow([external_id, dataset, license_, *_media_columns(media, metadata, stem)])


def _media_columns(media: str, metadata: dict, stem: str) -> list[str]:
    """file_name, save_folder and the extras: from an E-MM1 import's metadata, else from media."""
    metadata = metadata or {}
    if "file_name" in metadata:
        file_name, folder = metadata.get("file_name", ""), metadata.get("save_folder", "")
    else:
        folder, file_name = posixpath.split(media)
    return [file_name, folder, *(str(metadata.get(c, "")) for c in EXTRA_COLUMNS[stem])]


def _write_vectors(archive: zipfile.ZipFile, source: ExportSource, labelled) -> None:
    """The exported captions' and items' vectors, per space, and the manifest naming them."""
    captions = Caption.objects.filter(pk__in=labelled.values("task__caption_id"))
    entries = []
    for space in EmbeddingSpace.objects.order_by("name"):
        entry = {
            "space": space.name,
            "model": space.model_name,
            "dim": space.dim,
            "target_modality": space.target_modality,
        }
        sides = (
            ("captions", CaptionVector.objects.filter(space=space, caption__in=captions), "caption"),
            (
                "items",
                ItemVector.objects.filter(
                    space=space,
                    item__in=Item.objects.filter(_referenced_items(labelled), modality=space.target_modality),
                ),
                "item",
            ),
        )
        for side, vectors, key in sides:
            if _write_space_side(archive, source, space, side, vectors, key):
                entry[side] = {
                    "vectors": f"embeddings/{space.name}/{side}.npy",
                    "ids": f"embeddings/{space.name}/{side}.ids.txt",
                }
        if len(entry) > 4:
            entries.append(entry)
    if entries:
        manifest = {"format": "pairrate-bundle/1", "embeddings": entries}
        with zip_text_member(archive, "pairrate.json") as out:
            out.write(json.dumps(manifest, indent=2) + "\n")


def _write_space_side(archive: zipfile.ZipFile, source: ExportSource, space, side: str, vectors, key: str) -> bool:
    """One `.npy` (rows in external id order, streamed from the shards) and its id list."""
    rows = vectors.count()
    if not rows:
        return False
    ordered = (
        vectors.order_by(f"{key}__external_id", key)
        .values_list(f"{key}__external_id", "shard_id", "row")
        .iterator(chunk_size=source.chunk_size)
    )
    shards: dict[int, np.ndarray] = {}
    external_ids: list[str] = []
    folder = f"embeddings/{space.name}/{side}"
    with zip_binary_member(archive, f"{folder}.npy") as out:  # one open zip member at a time
        np.lib.format.write_array_header_1_0(
            out,
            {
                "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                "fortran_order": False,
                "shape": (rows, space.dim),
            },
        )
        while chunk := list(_take(ordered, VECTOR_CHUNK)):
            block = np.empty((len(chunk), space.dim), dtype="<f4")
            for shard_id in {shard for _, shard, _ in chunk}:
                if shard_id not in shards:
                    shards[shard_id] = VectorShard.objects.get(pk=shard_id).load()
                positions = [i for i, (_, shard, _) in enumerate(chunk) if shard == shard_id]
                block[positions] = shards[shard_id][[chunk[i][2] for i in positions]]
            out.write(block.tobytes())
            external_ids.extend(external_id for external_id, _, _ in chunk)
    with zip_text_member(archive, f"{folder}.ids.txt") as ids:
        ids.write("".join(f"{external_id}\n" for external_id in external_ids))
    return True


def _take(iterator, count: int):
    for _ in range(count):
        try:
            yield next(iterator)
        except StopIteration:
            return


def _chain(first, rest):
    yield first
    yield from rest
