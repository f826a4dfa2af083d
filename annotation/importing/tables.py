"""Read item and caption tables from CSV, JSONL or Parquet into columns.

Columns, not row dicts: a million rows stay a few lists of strings. Every row keeps
the line number it came from so errors can point at it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BundleError, RowError

SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".parquet")


@dataclass
class Table:
    name: str  # file name as shown in errors (relative to the bundle)
    columns: dict[str, list]
    lines: list[int]
    line_word: str = "line"
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> list:
        return self.columns.get(name) or [None] * len(self.lines)


def read_table(path: Path, display_name: str) -> Table:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise BundleError([RowError(display_name, None, None, "file not found")])
    if suffix == ".csv":
        return _read_csv(path, display_name)
    if suffix == ".jsonl":
        return _read_jsonl(path, display_name)
    if suffix == ".parquet":
        return _read_parquet(path, display_name)
    raise BundleError(
        [
            RowError(
                display_name,
                None,
                None,
                f"unsupported table format {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}",
            )
        ]
    )


def _decode_utf8(path: Path, display_name: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = None
        if path.suffix.lower() == ".csv":
            prefix = data[line_start : exc.start].decode("utf-8", errors="replace")
            header = next(csv.reader(io.StringIO(data[: data.find(b"\n")].decode("utf-8", "replace"))), [])
            index = len(next(csv.reader([prefix]), [""])) - 1
            column = header[index] if 0 <= index < len(header) else None
        raise BundleError(
            [RowError(display_name, line, column, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")]
        ) from None


def _read_csv(path: Path, display_name: str) -> Table:
    reader = csv.reader(io.StringIO(_decode_utf8(path, display_name), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BundleError([RowError(display_name, 1, None, "empty file: no header row")]) from None
    header = [h.strip() for h in header]
    duplicates = {h for h in header if header.count(h) > 1}
    if duplicates:
        raise BundleError([RowError(display_name, 1, sorted(duplicates)[0], "column appears twice in the header")])
    columns: dict[str, list] = {h: [] for h in header}
    lists = [columns[h] for h in header]
    lines: list[int] = []
    width = len(header)
    errors = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                errors.append(
                    RowError(display_name, reader.line_num, None, f"expected {width} fields, found {len(row)}")
                )
                if len(errors) > 20:
                    break
                continue
            for target, value in zip(lists, row):
                target.append(value)
            lines.append(reader.line_num)
    except csv.Error as exc:
        errors.append(RowError(display_name, reader.line_num, None, f"malformed CSV: {exc}"))
    if errors:
        raise BundleError(errors)
    return Table(display_name, columns, lines)


def _read_jsonl(path: Path, display_name: str) -> Table:
    text = _decode_utf8(path, display_name)
    rows: list[dict] = []
    lines: list[int] = []
    errors = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(RowError(display_name, number, None, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(record, dict):
            errors.append(RowError(display_name, number, None, "each line must be a JSON object"))
            continue
        rows.append(record)
        lines.append(number)
    if errors:
        raise BundleError(errors)
    names: dict[str, None] = {}
    for record in rows:
        names.update(dict.fromkeys(record))
    columns = {name: [record.get(name) for record in rows] for name in names}
    return Table(display_name, columns, lines)


def _read_parquet(path: Path, display_name: str) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise BundleError([RowError(display_name, None, None, f"unreadable Parquet file: {exc}")]) from None
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    return Table(display_name, columns, list(range(1, table.num_rows + 1)), line_word="row")
