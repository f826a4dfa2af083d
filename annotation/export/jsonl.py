"""`jsonl`: one JSON object per rated pair, with every column of rows.COLUMNS."""
from __future__ import annotations

from pathlib import Path

from .rows import ExportSource, encode_json, text_dates
from .writer import open_text

EXTENSION = "jsonl"
OPTIONS: dict = {}


def write(source: ExportSource, path: Path, options: dict) -> int:
    count = 0
    with open_text(path) as out:
        for row in source.rows():
            text_dates(row)
            out.write(encode_json(row))
            out.write("\n")
            count += 1
    return count
