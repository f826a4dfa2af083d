"""`jsonl`: one JSON object per rated pair, with every column of rows.COLUMNS."""

from __future__ import annotations

from pathlib import Path

from .rows import COLUMNS, ExportSource, encode_json, sql_json_object, sql_json_value, text_dates
from .writer import open_binary, open_text

EXTENSION = "jsonl"
OPTIONS: dict = {}


def render(columns: dict[str, str]) -> str:
    """The SQL of one line (PostgreSQL)."""
    return sql_json_object([(name, sql_json_value(name, columns[name])) for name in COLUMNS])


def write(source: ExportSource, path: Path, options: dict) -> int:
    if source.renders_sql:
        count = 0
        with open_binary(path) as out:
            for lines, rows in source.lines(render):
                out.write(lines)
                count += rows
        return count
    count = 0
    with open_text(path) as out:
        for row in source.rows():
            text_dates(row)
            out.write(encode_json(row))
            out.write("\n")
            count += 1
    return count
