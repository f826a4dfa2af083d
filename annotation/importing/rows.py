"""Rows parsed from a bundle's tables, and the checks and appenders both layouts share.

pairrate's own bundle (bundle.py) and the E-MM1 release (emm1.py) name their columns
differently but end in the same `ParsedBundle`, checked by the same rules here, so an
error reads the same (file, line, column) whichever layout it came from. Nothing here
touches the database or media storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..media_paths import UnsafeMediaPath, check_media_value, confined, is_remote_url
from ..models.datasets import Modality
from .errors import ErrorCollector
from .tables import Table


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


def bundle_path(
    root: Path, relative, errors: ErrorCollector, file: str, line: int | None, column: str | None
) -> Path | None:
    """The one rule for paths a bundle names: relative, no `..`, and still inside the bundle
    once symbolic links are resolved. Refusals are added to `errors` (naming where the path
    came from, never the content of what it points at) and give None."""
    try:
        return confined(root, relative, "path", "the bundle")
    except UnsafeMediaPath as exc:
        errors.add(file, line, column, str(exc))
        return None


def require_columns(table: Table, required: tuple[str, ...], errors: ErrorCollector) -> bool:
    missing = [c for c in required if c not in table.columns]
    for column in missing:
        errors.add(table.name, 1 if table.line_word == "line" else None, column, "required column is missing")
    return not missing


def cell_text(value) -> str:
    """A table cell as stripped text; an empty cell (None) is ''."""
    return "" if value is None else str(value).strip()


def check_unique_ids(table: Table, ids: list[str], column: str, errors: ErrorCollector) -> None:
    first_seen: dict[str, int] = {}
    for line, external_id in zip(table.lines, ids):
        if not external_id:
            errors.add(table.name, line, column, "empty id")
        elif external_id in first_seen:
            errors.add(
                table.name,
                line,
                column,
                f"duplicate id {external_id!r} (first on {table.line_word} {first_seen[external_id]})",
            )
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
        raw = {"start_time": cell_text(starts[index]), "end_time": cell_text(ends[index])}
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
            errors.add(
                table.name,
                line,
                "end_time",
                f"end_time {raw['end_time']} must be greater than start_time {raw['start_time']}",
            )
        if errors.full:
            return


def add_item(
    bundle: ParsedBundle,
    table: Table,
    index: int,
    external_id: str,
    modality: str,
    media: str,
    media_column: str,
    source: str,
    license: str,
    metadata: dict,
    errors: ErrorCollector,
) -> None:
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


def add_caption(
    bundle: ParsedBundle,
    table: Table,
    index: int,
    external_id: str,
    text,
    text_column: str,
    source_modality: str,
    paired: str,
    source: str,
    license: str,
    metadata: dict,
    errors: ErrorCollector,
) -> None:
    line = table.lines[index]
    text = "" if text is None else str(text).strip()
    if not text:
        errors.add(table.name, line, text_column, "empty caption text")
    if "\x00" in text:
        errors.add(table.name, line, text_column, "caption contains a NUL character")
    if source_modality and source_modality not in Modality.values:
        errors.add(
            table.name,
            line,
            "source_modality",
            f"unknown modality {source_modality!r}; expected one of {Modality.values}",
        )
    rows = bundle.captions
    rows.external_id.append(external_id)
    rows.text.append(text)
    rows.source_modality.append(source_modality)
    rows.paired_external_id.append(paired)
    rows.source_dataset.append(source)
    rows.license.append(license)
    rows.metadata.append(metadata)
    rows.lines.append((table.name, line))
