"""`csv`: the jsonl columns, one row per pair; `annotators` is a JSON list in its cell."""
from __future__ import annotations

import csv
from pathlib import Path

from .rows import COLUMNS, ExportSource, encode_json, text_dates
from .writer import open_text

EXTENSION = "csv"
OPTIONS: dict = {}


def write(source: ExportSource, path: Path, options: dict) -> int:
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
