"""`parquet`: the jsonl columns with native types, one row group per batch of pairs."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from . import jsonl
from .rows import COLUMNS, ExportSource

EXTENSION = "parquet"
OPTIONS: dict = {}
BATCH_ROWS = 20_000

_TYPES = {
    "project_id": pa.int64(),
    "task_id": pa.int64(),
    "candidate_id": pa.int64(),
    "slot": pa.int32(),
    "retrieval_rank": pa.int32(),
    "similarity": pa.float64(),
    "votes_good": pa.int32(),
    "votes_partial": pa.int32(),
    "votes_bad": pa.int32(),
    "agreement": pa.float64(),
    "annotators": pa.list_(pa.struct([("annotator", pa.string()), ("label", pa.string())])),
    "decided_at": pa.timestamp("us", tz="UTC"),
}
SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])


def write(source: ExportSource, path: Path, options: dict) -> int:
    if source.renders_sql:
        return _write_rendered(source, path)
    count = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        batch = {name: [] for name in COLUMNS}
        for row in source.rows():
            for name in COLUMNS:
                batch[name].append(row[name])
            count += 1
            if count % BATCH_ROWS == 0:
                _flush(writer, batch)
        _flush(writer, batch)
    return count


def _flush(writer: pq.ParquetWriter, batch: dict[str, list]) -> None:
    if batch[COLUMNS[0]]:
        writer.write_table(pa.table(batch, schema=SCHEMA))
        for values in batch.values():
            values.clear()


def _write_rendered(source: ExportSource, path: Path) -> int:
    """PostgreSQL renders the jsonl lines; Arrow's JSON reader (C++) turns each batch of
    them into columns of SCHEMA, so no Python object is made per pair."""
    count = 0
    pending: list[bytes] = []
    rows = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        for lines, n in source.lines(jsonl.render):
            pending.append(lines)
            rows += n
            if rows >= BATCH_ROWS:
                writer.write_table(_parse(pending))
                count += rows
                pending, rows = [], 0
        if rows:
            writer.write_table(_parse(pending))
            count += rows
    return count


def _parse(chunks: list[bytes]) -> pa.Table:
    data = b"".join(chunks)
    table = pajson.read_json(
        io.BytesIO(data),
        read_options=pajson.ReadOptions(block_size=len(data) + 1, use_threads=False),
        parse_options=pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="error"),
    )
    return table.select(COLUMNS).cast(SCHEMA)
