"""`pairs`: training pairs as JSONL; good pairs are positives, bad ones hard negatives.

Each line: `caption_id, caption, item_id, item_modality, item_media, label, target`
(1 positive, 0 negative) plus the retrieval `similarity` and `retrieval_rank` (a bad
pair the retriever ranked high is a hard negative). Partial pairs are left out unless
the option `partial` says `positive` or `negative`.
"""
from __future__ import annotations

from pathlib import Path

from .rows import ExportSource, encode_json
from .writer import open_text

EXTENSION = "jsonl"
OPTIONS = {"partial": ("exclude", "positive", "negative")}
KEYS = ("project", "candidate_id", "caption_id", "caption", "item_id", "item_modality", "item_media",
        "similarity", "retrieval_rank", "label")


def write(source: ExportSource, path: Path, options: dict) -> int:
    targets = {"good": 1, "bad": 0}
    partial = options.get("partial", "exclude")
    if partial != "exclude":
        targets["partial"] = int(partial == "positive")
    count = 0
    with open_text(path) as out:
        for row in source.rows(source.pairs().filter(label__in=list(targets)), with_annotators=False):
            pair = {key: row[key] for key in KEYS}
            pair["target"] = targets[row["label"]]
            out.write(encode_json(pair))
            out.write("\n")
            count += 1
    return count
