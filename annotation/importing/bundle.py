"""Parse and validate a bundle directory into rows ready to load.

Two layouts: pairrate's own bundle (a `pairrate.json` manifest, see docs/formats.md)
and the E-MM1 release (`infos/*.csv`, see emm1.py). Both end as a `ParsedBundle`.
Nothing here touches the database or media storage.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..media_paths import UnsafeMediaPath, check_media_value, confined, is_remote_url
from ..models.datasets import MEDIA_MODALITIES, Modality
from .errors import BundleError, ErrorCollector, RowError
from .tables import Table, read_table

MANIFEST = "pairrate.json"
MEDIA_MODES = ("local", "remote")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


@dataclass
class ItemRows:
    external_id: list[str] = field(default_factory=list)
    modality: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    source_dataset: list[str] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    metadata: list[dict] = field(default_factory=list)
    # Optional fields the source tables carry; a re-import leaves the others as stored.
    carried: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.external_id)


@dataclass
class CaptionRows:
    external_id: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    source_modality: list[str] = field(default_factory=list)
    paired_external_id: list[str] = field(default_factory=list)
    source_dataset: list[str] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    metadata: list[dict] = field(default_factory=list)
    lines: list[tuple[str, int]] = field(default_factory=list)
    carried: set[str] = field(default_factory=set)  # as ItemRows.carried

    def __len__(self) -> int:
        return len(self.external_id)


@dataclass
class VectorFile:
    vectors: Path
    ids: Path
    vectors_name: str
    ids_name: str


@dataclass
class EmbeddingSpec:
    space: str
    model: str
    dim: int
    target_modality: str
    captions: VectorFile | None
    items: VectorFile | None


@dataclass
class ParsedBundle:
    root: Path
    dataset: str
    description: str
    media_mode: str
    items: ItemRows
    captions: CaptionRows
    embeddings: list[EmbeddingSpec]
    # (absolute source file, destination relative to MEDIA_ROOT) for local media
    media_files: list[tuple[Path, str]] = field(default_factory=list)


def parse_bundle(root: Path, dataset: str | None = None, media_mode: str | None = None) -> ParsedBundle:
    """Read and validate everything; raise BundleError listing every problem found."""
    shown = str(root)
    root = Path(os.path.realpath(root))  # every bundle path is confined to this folder
    if not root.is_dir():
        raise BundleError([RowError(shown, None, None, "bundle directory not found")])
    if os.path.lexists(root / "infos"):
        from .emm1 import parse_emm1

        return parse_emm1(root, dataset, media_mode)
    if os.path.lexists(root / MANIFEST):
        return _parse_manifest_bundle(root, dataset, media_mode)
    raise BundleError(
        [RowError(shown, None, None, f"neither a {MANIFEST} manifest nor an E-MM1 infos/ folder")]
    )


def bundle_path(root: Path, relative, errors: ErrorCollector, file: str, line: int | None,
                column: str | None) -> Path | None:
    """The one rule for paths a bundle names: relative, no `..`, and still inside the bundle
    once symbolic links are resolved. Refusals are added to `errors` (naming where the path
    came from, never the content of what it points at) and give None."""
    try:
        return confined(root, relative, "path", "the bundle")
    except UnsafeMediaPath as exc:
        errors.add(file, line, column, str(exc))
        return None


def manifest_table(root: Path, manifest: dict, key: str, errors: ErrorCollector) -> Table | None:
    """The table a manifest key names, read only when it is confined to the bundle."""
    if not manifest.get(key):
        return None
    path = bundle_path(root, manifest[key], errors, MANIFEST, None, key)
    return None if path is None else read_table(path, manifest[key])


def _parse_manifest_bundle(root: Path, dataset: str | None, media_mode: str | None) -> ParsedBundle:
    manifest = read_manifest(root)
    errors = ErrorCollector()
    bundle = empty_bundle(root, manifest, dataset or manifest.get("dataset") or "",
                          media_mode or manifest.get("media", "local"), "", errors)
    items = manifest_table(root, manifest, "items", errors)
    captions = manifest_table(root, manifest, "captions", errors)
    if items is not None:
        add_item_rows(bundle, items, errors)
    if captions is not None:
        add_caption_rows(bundle, captions, errors)
    errors.raise_if_any()
    return bundle


def empty_bundle(root: Path, manifest: dict, name: str, mode: str, description: str,
                 errors: ErrorCollector) -> ParsedBundle:
    """Check the dataset name and media mode (raising at once if wrong), read the
    manifest's embedding specs, and return a bundle ready for rows."""
    check_dataset_name(name, errors)
    check_media_mode(mode, errors)
    errors.raise_if_any()
    return ParsedBundle(
        root=root, dataset=name, description=str(manifest.get("description", description)),
        media_mode=mode, items=ItemRows(), captions=CaptionRows(),
        embeddings=parse_embedding_specs(root, manifest.get("embeddings", []), MANIFEST, errors),
    )


def read_manifest(root: Path) -> dict:
    errors = ErrorCollector()
    path = bundle_path(root, MANIFEST, errors, MANIFEST, None, None)
    errors.raise_if_any()
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError([RowError(MANIFEST, getattr(exc, "lineno", None), None,
                                    f"invalid JSON manifest: {exc}")]) from None
    if not isinstance(manifest, dict):
        raise BundleError([RowError(MANIFEST, None, None, "the manifest must be a JSON object")])
    return manifest


def check_dataset_name(name: str, errors: ErrorCollector) -> None:
    if not name or not SLUG.match(name) or len(name) > 100:
        errors.add(MANIFEST, None, "dataset",
                   f"dataset name {name!r} must be 1-100 letters, digits, '-' or '_'")


def check_media_mode(mode: str, errors: ErrorCollector) -> None:
    if mode not in MEDIA_MODES:
        errors.add(MANIFEST, None, "media", f"media must be one of {MEDIA_MODES}, not {mode!r}")


def parse_embedding_specs(root: Path, entries, source: str, errors: ErrorCollector) -> list[EmbeddingSpec]:
    specs = []
    if not isinstance(entries, list):
        errors.add(source, None, "embeddings", "must be a list")
        return specs
    for index, entry in enumerate(entries):
        where = f"embeddings[{index}]"
        if not isinstance(entry, dict):
            errors.add(source, None, where, "must be an object")
            continue
        missing = [k for k in ("space", "model", "dim", "target_modality") if k not in entry]
        if missing:
            errors.add(source, None, f"{where}.{missing[0]}", "missing")
            continue
        if not SLUG.match(str(entry["space"])):
            errors.add(source, None, f"{where}.space", f"space name {entry['space']!r} is not a slug")
        if not isinstance(entry["dim"], int) or entry["dim"] <= 0:
            errors.add(source, None, f"{where}.dim", f"dim must be a positive integer, not {entry['dim']!r}")
        if entry["target_modality"] not in MEDIA_MODALITIES:
            errors.add(source, None, f"{where}.target_modality",
                       f"unknown modality {entry['target_modality']!r}; expected one of {MEDIA_MODALITIES}")
        files = {}
        for side in ("captions", "items"):
            spec = entry.get(side)
            if spec is None:
                files[side] = None
                continue
            if not isinstance(spec, dict) or not {"vectors", "ids"} <= set(spec):
                errors.add(source, None, f"{where}.{side}", "needs 'vectors' (.npy) and 'ids' (.txt)")
                files[side] = None
                continue
            paths = {key: bundle_path(root, spec[key], errors, source, None, f"{where}.{side}.{key}")
                     for key in ("vectors", "ids")}
            if None in paths.values():
                files[side] = None
                continue
            files[side] = VectorFile(paths["vectors"], paths["ids"], spec["vectors"], spec["ids"])
            for path, shown in ((files[side].vectors, spec["vectors"]), (files[side].ids, spec["ids"])):
                if not path.is_file():
                    errors.add(shown, None, None, "file not found")
        specs.append(EmbeddingSpec(str(entry["space"]), str(entry["model"]), entry["dim"],
                                   entry["target_modality"], files["captions"], files["items"]))
    return specs


def require_columns(table: Table, required: tuple[str, ...], errors: ErrorCollector) -> bool:
    missing = [c for c in required if c not in table.columns]
    for column in missing:
        errors.add(table.name, 1 if table.line_word == "line" else None, column, "required column is missing")
    return not missing


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def carried_fields(table: Table, known: set[str], columns: dict[str, str]) -> set[str]:
    """The optional database fields a table carries (a re-import updates only these):
    `columns` maps table column -> field; source_dataset/license are the same in every
    table; metadata is carried by a `metadata` column or any extra column."""
    fields = {field for column, field in {**columns, "source_dataset": "source_dataset",
                                            "license": "license"}.items() if column in table.columns}
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


def check_unique_ids(table: Table, ids: list[str], column: str, errors: ErrorCollector) -> None:
    first_seen: dict[str, int] = {}
    for line, external_id in zip(table.lines, ids):
        if not external_id:
            errors.add(table.name, line, column, "empty id")
        elif external_id in first_seen:
            errors.add(table.name, line, column,
                       f"duplicate id {external_id!r} (first on {table.line_word} {first_seen[external_id]})")
        else:
            first_seen[external_id] = line
        if errors.full:
            return


def check_time_ranges(table: Table, errors: ErrorCollector) -> None:
    """`start_time`/`end_time` (seconds into the source clip), where a table has them:
    both empty (no span), or numbers with 0 <= start_time < end_time."""
    if "start_time" not in table.columns and "end_time" not in table.columns:
        return
    starts, ends = table.column("start_time"), table.column("end_time")
    for index, line in enumerate(table.lines):
        raw = {"start_time": _text(starts[index]), "end_time": _text(ends[index])}
        if not any(raw.values()):
            continue
        values = {}
        for column, text in raw.items():
            try:
                values[column] = float(text)
            except ValueError:
                values[column] = None
            if values[column] is None or not math.isfinite(values[column]):
                errors.add(table.name, line, column, f"{column} must be a number of seconds, not {text!r}")
                values[column] = None
        start, end = values["start_time"], values["end_time"]
        if start is not None and start < 0:
            errors.add(table.name, line, "start_time", f"start_time {raw['start_time']} is negative")
        elif start is not None and end is not None and not start < end:
            errors.add(table.name, line, "end_time",
                       f"end_time {raw['end_time']} must be greater than start_time {raw['start_time']}")
        if errors.full:
            return


ITEM_COLUMNS = {"id", "modality", "media", "source_dataset", "license"}


def add_item_rows(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("id", "modality"), errors):
        return
    ids = [_text(v) for v in table.column("id")]
    check_unique_ids(table, ids, "id", errors)
    modalities = table.column("modality")
    media = table.column("media")
    sources, licenses = table.column("source_dataset"), table.column("license")
    metadata = metadata_rows(table, ITEM_COLUMNS, errors)
    check_time_ranges(table, errors)
    bundle.items.carried |= carried_fields(table, ITEM_COLUMNS, {"media": "media"})
    for index, line in enumerate(table.lines):
        modality = _text(modalities[index])
        if modality not in MEDIA_MODALITIES:
            errors.add(table.name, line, "modality",
                       f"unknown modality {modality!r}; expected one of {MEDIA_MODALITIES}")
        add_item(bundle, table, index, ids[index], modality, _text(media[index]), "media",
                 _text(sources[index]), _text(licenses[index]), metadata[index], errors)
        if errors.full:
            return


def add_item(bundle: ParsedBundle, table: Table, index: int, external_id: str, modality: str,
             media: str, media_column: str, source: str, license: str, metadata: dict,
             errors: ErrorCollector) -> None:
    """Append one validated item. Local media must be files inside the bundle (symbolic links
    included); remote media must be allowed URLs or paths confined to media storage."""
    line = table.lines[index]
    if media and bundle.media_mode == "local" and not is_remote_url(media):
        source = bundle_path(bundle.root, media, errors, table.name, line, media_column)
        if source is not None and not source.is_file():
            errors.add(table.name, line, media_column, f"media file {media!r} not found in the bundle")
        elif source is not None:
            stored = f"datasets/{bundle.dataset}/{PurePosixPath(media)}"
            bundle.media_files.append((source, stored))
            media = stored
    elif media:
        try:
            check_media_value(media)
        except UnsafeMediaPath as exc:
            errors.add(table.name, line, media_column, f"remote {exc}")
    rows = bundle.items
    rows.external_id.append(external_id)
    rows.modality.append(modality)
    rows.media.append(media)
    rows.source_dataset.append(source)
    rows.license.append(license)
    rows.metadata.append(metadata)


CAPTION_COLUMNS = {"id", "text", "source_modality", "paired_item", "source_dataset", "license"}


def add_caption_rows(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("id", "text"), errors):
        return
    ids = [_text(v) for v in table.column("id")]
    check_unique_ids(table, ids, "id", errors)
    texts, modalities = table.column("text"), table.column("source_modality")
    paired = table.column("paired_item")
    sources, licenses = table.column("source_dataset"), table.column("license")
    metadata = metadata_rows(table, CAPTION_COLUMNS, errors)
    bundle.captions.carried |= carried_fields(table, CAPTION_COLUMNS, {
        "source_modality": "source_modality", "paired_item": "paired_item"})
    for index in range(len(table)):
        add_caption(bundle, table, index, ids[index], texts[index], "text", _text(modalities[index]),
                    _text(paired[index]), _text(sources[index]), _text(licenses[index]),
                    metadata[index], errors)
        if errors.full:
            return


def add_caption(bundle: ParsedBundle, table: Table, index: int, external_id: str, text,
                text_column: str, source_modality: str, paired: str, source: str, license: str,
                metadata: dict, errors: ErrorCollector) -> None:
    line = table.lines[index]
    text = "" if text is None else str(text).strip()
    if not text:
        errors.add(table.name, line, text_column, "empty caption text")
    if "\x00" in text:
        errors.add(table.name, line, text_column, "caption contains a NUL character")
    if source_modality and source_modality not in Modality.values:
        errors.add(table.name, line, "source_modality",
                   f"unknown modality {source_modality!r}; expected one of {Modality.values}")
    rows = bundle.captions
    rows.external_id.append(external_id)
    rows.text.append(text)
    rows.source_modality.append(source_modality)
    rows.paired_external_id.append(paired)
    rows.source_dataset.append(source)
    rows.license.append(license)
    rows.metadata.append(metadata)
    rows.lines.append((table.name, line))
