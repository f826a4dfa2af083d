"""pairrate's own bundle layout: a `pairrate.json` manifest naming `items` and `captions`
tables, with media and vectors beside them (docs/formats.md).

layout.py decides which layout a folder is; the rules both layouts share are in rows.py
and manifest.py, so this module and emm1.py never import each other. Nothing here
touches the database or media storage.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..models.datasets import MEDIA_MODALITIES
from .errors import ErrorCollector
from .manifest import MANIFEST, empty_bundle, read_manifest
from .rows import (
    ParsedBundle,
    add_caption,
    add_item,
    bundle_path,
    cell_text,
    check_time_ranges,
    check_unique_ids,
    require_columns,
)
from .tables import Table, read_table


def manifest_table(root: Path, manifest: dict, key: str, errors: ErrorCollector) -> Table | None:
    """The table a manifest key names, read only when it is confined to the bundle."""
    if not manifest.get(key):
        return None
    path = bundle_path(root, manifest[key], errors, MANIFEST, None, key)
    return None if path is None else read_table(path, manifest[key])


def parse_manifest_bundle(root: Path, dataset: str | None, media_mode: str | None) -> ParsedBundle:
    """A folder with a `pairrate.json` manifest naming its `items` and `captions` tables."""
    manifest = read_manifest(root)
    errors = ErrorCollector()
    bundle = empty_bundle(
        root,
        manifest,
        dataset or manifest.get("dataset") or "",
        media_mode or manifest.get("media", "local"),
        "",
        errors,
    )
    items = manifest_table(root, manifest, "items", errors)
    captions = manifest_table(root, manifest, "captions", errors)
    if items is not None:
        add_item_rows(bundle, items, errors)
    if captions is not None:
        add_caption_rows(bundle, captions, errors)
    errors.raise_if_any()
    return bundle


def carried_fields(table: Table, known: set[str], columns: dict[str, str]) -> set[str]:
    """The optional database fields a table carries (a re-import updates only these):
    `columns` maps table column -> field; source_dataset/license are the same in every
    table; metadata is carried by a `metadata` column or any extra column."""
    fields = {
        field
        for column, field in {**columns, "source_dataset": "source_dataset", "license": "license"}.items()
        if column in table.columns
    }
    if any(name not in known for name in table.columns):  # `metadata` is not in known either
        fields.add("metadata")
    return fields


def metadata_rows(table: Table, known: set[str], errors: ErrorCollector) -> list[dict]:
    """Per row: extra columns, merged over a `metadata` column holding a JSON object."""
    extra = [(name, values) for name, values in table.columns.items() if name not in known and name != "metadata"]
    raw_column = table.columns.get("metadata")
    rows = []
    for index, line in enumerate(table.lines):
        meta: dict = {}
        raw = raw_column[index] if raw_column is not None else None
        if isinstance(raw, str) and raw.strip():
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raw = "invalid"
        if isinstance(raw, dict):
            meta.update(raw)
        elif raw not in (None, ""):
            errors.add(table.name, line, "metadata", "not a JSON object")
        for name, values in extra:
            if values[index] not in (None, ""):
                meta[name] = values[index]
        rows.append(meta)
    return rows


ITEM_COLUMNS = {"id", "modality", "media", "source_dataset", "license"}


def add_item_rows(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("id", "modality"), errors):
        return
    ids = [cell_text(v) for v in table.column("id")]
    check_unique_ids(table, ids, "id", errors)
    modalities = table.column("modality")
    media = table.column("media")
    sources, licenses = table.column("source_dataset"), table.column("license")
    metadata = metadata_rows(table, ITEM_COLUMNS, errors)
    check_time_ranges(table, errors)
    bundle.items.carried |= carried_fields(table, ITEM_COLUMNS, {"media": "media"})
    for index, line in enumerate(table.lines):
        modality = cell_text(modalities[index])
        if modality not in MEDIA_MODALITIES:
            errors.add(
                table.name, line, "modality", f"unknown modality {modality!r}; expected one of {MEDIA_MODALITIES}"
            )
        add_item(
            bundle,
            table,
            index,
            ids[index],
            modality,
            cell_text(media[index]),
            "media",
            cell_text(sources[index]),
            cell_text(licenses[index]),
            metadata[index],
            errors,
        )
        if errors.full:
            return


CAPTION_COLUMNS = {"id", "text", "source_modality", "paired_item", "source_dataset", "license"}


def add_caption_rows(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("id", "text"), errors):
        return
    ids = [cell_text(v) for v in table.column("id")]
    check_unique_ids(table, ids, "id", errors)
    texts, modalities = table.column("text"), table.column("source_modality")
    paired = table.column("paired_item")
    sources, licenses = table.column("source_dataset"), table.column("license")
    metadata = metadata_rows(table, CAPTION_COLUMNS, errors)
    bundle.captions.carried |= carried_fields(
        table, CAPTION_COLUMNS, {"source_modality": "source_modality", "paired_item": "paired_item"}
    )
    for index in range(len(table)):
        add_caption(
            bundle,
            table,
            index,
            ids[index],
            texts[index],
            "text",
            cell_text(modalities[index]),
            cell_text(paired[index]),
            cell_text(sources[index]),
            cell_text(licenses[index]),
            metadata[index],
            errors,
        )
        if errors.full:
            return
