"""`csv`: the jsonl columns, one row per pair; `annotators` is a JSON list in its cell."""

from __future__ import annotations

import csv
from pathlib import Path

from .rows import COLUMNS, ExportSource, encode_json, sql_csv_row, sql_csv_value, text_dates
from .writer import open_binary, open_text

EXTENSION = "csv"
OPTIONS: dict = {}


def render(columns: dict[str, str]) -> str:
    """The SQL of one row, as csv.writer writes it (PostgreSQL)."""
    return sql_csv_row([sql_csv_value(name, columns[name]) for name in COLUMNS])


def write(source: ExportSource, path: Path, options: dict) -> int:
    if source.renders_sql:
        return _write_rendered(source, path)
    count = 0
    with open_text(path) as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in source.rows():
            row["annotators"] = encode_json(row["annotators"])
            text_dates(row)
            writer.writerow([row[c] for c in COLUMNS])
            count += 1
    return count


def _write_rendered(source: ExportSource, path: Path) -> int:
    count = 0
    with open_binary(path) as out:
        out.write((",".join(COLUMNS) + "\r\n").encode())
        for lines, rows in source.lines(render):
            out.write(lines)
            count += rows
    return count
