"""`pairs`: training pairs; good pairs are positives, bad ones hard negatives.

Each pair: `project, candidate_id, caption_id, caption, item_id, item_modality,
item_media, similarity, retrieval_rank, label, target` (1 positive, 0 negative); the
retrieval `similarity` and `retrieval_rank` tell hard negatives (bad pairs the
retriever ranked high). Partial pairs are left out unless the option `partial` says
`positive` or `negative`.

Without `shard_size` the file is JSONL, one pair a line. With `shard_size` N it is a
plain `.tar` holding WebDataset shards `pairs-000000.tar`, `pairs-000001.tar`, ... of N
samples each (the last one fewer), then `pairs-shards.json` listing every shard and its
sample count. A sample is one member `<key>.json` holding the same object as a JSONL
line; keys count up from `000000000` in candidate order, so they are unique and sorted.
Members carry mtime 0, mode 0644, no owner, so the same pairs give the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .options import Count
from .rows import ExportSource, encode_json, sql_json_object, sql_json_value, sql_literal
from .writer import open_binary, open_text

EXTENSION = "jsonl"
SHARDED_EXTENSION = "tar"
OPTIONS = {"partial": ("exclude", "positive", "negative"), "shard_size": Count(1, 1_000_000)}
KEYS = (
    "project",
    "candidate_id",
    "caption_id",
    "caption",
    "item_id",
    "item_modality",
    "item_media",
    "similarity",
    "retrieval_rank",
    "label",
)
SHARD_NAME = "pairs-{:06d}.tar"
MANIFEST = "pairs-shards.json"


def extension(options: dict) -> str:
    return SHARDED_EXTENSION if options.get("shard_size") else EXTENSION


def write(source: ExportSource, path: Path, options: dict) -> int:
    targets = {"good": 1, "bad": 0}
    partial = options.get("partial", "exclude")
    if partial != "exclude":
        targets["partial"] = int(partial == "positive")
    chosen = source.pairs().filter(label__in=list(targets))
    shard_size = options.get("shard_size")
    if shard_size:
        return _write_shards(_samples(source, chosen, targets), path, shard_size)
    count = 0
    if source.renders_sql:
        with open_binary(path) as out:
            for lines, rows in source.lines(_render(targets), chosen, with_annotators=False):
                out.write(lines)
                count += rows
        return count
    with open_text(path) as out:
        for row in source.rows(chosen, with_annotators=False):
            out.write(_encode(row, targets))
            out.write("\n")
            count += 1
    return count


def _render(targets: dict[str, int]):
    def render(columns: dict[str, str]) -> str:
        target = " ".join(f"WHEN {sql_literal(label)} THEN {value}" for label, value in targets.items())
        return sql_json_object(
            [(key, sql_json_value(key, columns[key])) for key in KEYS]
            + [("target", f"CASE {columns['label']}::text {target} END")]
        )

    return render


def _encode(row: dict, targets: dict[str, int]) -> str:
    pair = {key: row[key] for key in KEYS}
    pair["target"] = targets[row["label"]]
    return encode_json(pair)


def _samples(source: ExportSource, chosen, targets: dict[str, int]) -> Iterator[bytes]:
    """Each pair's JSON, UTF-8, in candidate order."""
    if source.renders_sql:
        for lines, _ in source.lines(_render(targets), chosen, with_annotators=False):
            yield from lines.split(b"\n")[:-1]  # JSON text holds no raw newline
    else:
        for row in source.rows(chosen, with_annotators=False):
            yield _encode(row, targets).encode()


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_shards(samples: Iterator[bytes], path: Path, shard_size: int) -> int:
    """Shards are built one at a time in a temporary file beside the export (constant
    memory), then appended to the outer tar."""
    count, shards = 0, []
    with (
        open_binary(path) as raw,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as outer,
        tempfile.TemporaryFile(dir=path.parent, prefix=".tmp-shard-") as scratch,
    ):
        shard = None

        def close_shard():
            shard.close()
            size = scratch.tell()
            scratch.seek(0)
            name = SHARD_NAME.format(len(shards))
            outer.addfile(_member(name, size), scratch)
            shards.append({"name": name, "samples": in_shard})
            scratch.seek(0)
            scratch.truncate()

        in_shard = 0
        for sample in samples:
            if shard is None:
                shard = tarfile.open(fileobj=scratch, mode="w", format=tarfile.USTAR_FORMAT)
            shard.addfile(_member(f"{count:09d}.json", len(sample)), io.BytesIO(sample))
            count += 1
            in_shard += 1
            if in_shard == shard_size:
                close_shard()
                shard, in_shard = None, 0
        if shard is not None:
            close_shard()
        manifest = json.dumps({"samples": count, "shards": shards}, indent=1).encode() + b"\n"
        outer.addfile(_member(MANIFEST, len(manifest)), io.BytesIO(manifest))
    return count
