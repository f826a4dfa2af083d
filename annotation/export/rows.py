"""The rated pairs an export reads: one consistent snapshot, streamed in chunks.

`snapshot()` opens one read-only REPEATABLE READ transaction (PostgreSQL), so every
query of an export (the pairs, their ratings, the items they reference) sees the same
moment while annotators keep submitting. Rows come from server-side cursors
(`.iterator(chunk_size=...)`); each annotator's label is merged in from a second
cursor ordered the same way, so memory stays constant whatever the size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, QuerySet

from ..models import Assignment, PairResult, Rating
from .filters import ExportFilters, apply_filters, with_agreement

CHUNK_ROWS = 5000
PROGRESS_EVERY = 2000

# Output column -> ORM path, in output order (jsonl, csv and parquet share these).
FIELDS = {
    "project_id": "project_id",
    "project": "project__name",
    "task_id": "task_id",
    "candidate_id": "candidate_id",
    "caption_id": "task__caption__external_id",
    "caption_dataset": "task__caption__dataset__name",
    "caption": "task__caption__text",
    "caption_source_modality": "task__caption__source_modality",
    "caption_source_dataset": "task__caption__source_dataset",
    "paired_item_id": "task__paired_item__external_id",
    "paired_item_modality": "task__paired_item__modality",
    "paired_item_media": "task__paired_item__media",
    "item_id": "candidate__item__external_id",
    "item_dataset": "candidate__item__dataset__name",
    "item_modality": "candidate__item__modality",
    "item_media": "candidate__item__media",
    "item_source_dataset": "candidate__item__source_dataset",
    "item_license": "candidate__item__license",
    "caption_modality": "caption_modality",
    "slot": "candidate__slot",
    "retrieval_rank": "candidate__retrieval_rank",
    "similarity": "candidate__similarity",
    "state": "state",
    "label": "label",
    "votes_good": "votes_good",
    "votes_partial": "votes_partial",
    "votes_bad": "votes_bad",
    "agreement": "agreement",
    "gold_label": "candidate__gold__label",
    "decided_at": "updated_at",
}
COLUMNS = [c for c in FIELDS if c != "caption_modality"]
COLUMNS.insert(COLUMNS.index("slot"), "modality_pair")
COLUMNS.insert(COLUMNS.index("gold_label"), "annotators")
# Where each column's value sits in a fetched tuple (the two computed ones hold placeholders).
_POSITION = {name: index for index, name in enumerate(FIELDS)}
_POSITION["modality_pair"] = _POSITION["annotators"] = _POSITION["caption_modality"]
FIELDS_BY_PATH = {path: name for name, path in FIELDS.items()}
# Compact UTF-8 JSON for text formats (jsonl, csv cells, pairs).
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def text_dates(row: dict) -> dict:
    """`decided_at` as ISO text, for the text formats."""
    decided = row["decided_at"]
    row["decided_at"] = decided.isoformat() if decided else None
    return row


@contextmanager
def snapshot():
    """One read-only transaction that every query of an export shares."""
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Named cursors otherwise plan for the first 10% of rows (nested loops);
                # an export reads them all.
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


@dataclass
class ExportSource:
    """The filtered pairs of some projects; formats pull rows from it."""

    project_ids: list[int]
    filters: ExportFilters
    progress: Callable[[int, int], None] = field(default=lambda done, total: None)
    chunk_size: int = CHUNK_ROWS
    total: int | None = None

    def pairs(self) -> QuerySet:
        queryset = PairResult.objects.filter(project_id__in=self.project_ids)
        return apply_filters(queryset, self.filters)

    def count(self) -> int:
        self.total = self.pairs().count()
        return self.total

    def rows(
        self, queryset: QuerySet | None = None, order: tuple[str, ...] = ("candidate_id",), with_annotators: bool = True
    ) -> Iterator[dict]:
        """Dicts keyed by COLUMNS (annotators: [{annotator, label}] when asked for)."""
        queryset = with_agreement(self.pairs() if queryset is None else queryset)
        if with_annotators and order != ("candidate_id",):
            raise ValueError("annotators are merged in candidate order")
        columns = COLUMNS if with_annotators else [c for c in COLUMNS if c != "annotators"]
        positions = [_POSITION[c] for c in columns]
        caption_modality = _POSITION["modality_pair"]
        values = queryset.order_by(*order).values_list(*FIELDS.values()).iterator(chunk_size=self.chunk_size)
        ratings = self._ratings(queryset) if with_annotators else None
        pending = next(ratings, None) if ratings else None
        if self.total is None:
            self.count()
        done = 0
        for values_row in values:
            row = dict(zip(columns, map(values_row.__getitem__, positions)))
            row["modality_pair"] = f"{values_row[caption_modality] or 'unknown'}->{row['item_modality']}"
            if ratings is not None:
                candidate, labels = row["candidate_id"], []
                while pending is not None and pending[0] < candidate:
                    pending = next(ratings, None)
                while pending is not None and pending[0] == candidate:
                    labels.append({"annotator": pending[1], "label": pending[2]})
                    pending = next(ratings, None)
                row["annotators"] = labels
            yield row
            done += 1
            if done % PROGRESS_EVERY == 0:
                self.progress(done, self.total)
        self.progress(done, self.total)

    @property
    def renders_sql(self) -> bool:
        """Whether lines() works here (PostgreSQL) or formats keep to rows()."""
        return connection.vendor == "postgresql"

    def lines(
        self,
        render: Callable[[dict[str, str]], str],
        queryset: QuerySet | None = None,
        order: tuple[str, ...] = ("candidate_id",),
        with_annotators: bool = True,
    ) -> Iterator[tuple[bytes, int]]:
        """Batches of output lines that PostgreSQL renders, in `order`: (UTF-8 bytes, lines).

        `render` gets the SQL expression of every column of COLUMNS (`annotators` the JSON
        text of the list) and returns the SQL expression of one line; COPY ends each with
        `\\n` (a line that must end with `\\r\\n` ends its expression with `\\r`). The
        query runs as one COPY inside the export's snapshot transaction, so PostgreSQL
        renders while this process writes.
        """
        queryset = with_agreement(self.pairs() if queryset is None else queryset)
        aliases = {name: f"x_{index}" for index, name in enumerate(FIELDS)}
        inner = queryset.order_by().values(**{aliases[name]: F(path) for name, path in FIELDS.items()})
        sql, params = inner.query.sql_with_params()
        columns = {name: f'r."{alias}"' for name, alias in aliases.items()}
        columns["modality_pair"] = (
            f"concat(COALESCE(NULLIF({columns['caption_modality']}::text, ''), 'unknown'), "
            f"'->', {columns['item_modality']})"
        )
        joins = ""
        if with_annotators:
            joins = f" LEFT JOIN {sql_annotators(self.project_ids)} v ON v.candidate_id = {columns['candidate_id']}"
            columns["annotators"] = "COALESCE(v.annotators, '[]')"
        ordering = ", ".join(f'r."{aliases[FIELDS_BY_PATH[path]]}"' for path in order)
        line = render(columns)
        if isinstance(line, JsonObject):
            named = ", ".join(f"{value} AS {connection.ops.quote_name(key)}" for key, value in line)
            select = f"SELECT row_to_json(t)::text FROM (SELECT {named} FROM ({sql}) r{joins} ORDER BY {ordering}) t"
        else:
            select = f"SELECT {line} FROM ({sql}) r{joins} ORDER BY {ordering}"
        query = f"COPY ({select}) TO STDOUT"
        if self.total is None:
            self.count()
        done = 0
        batch: list = []
        with connection.cursor() as cursor:
            with cursor.cursor.copy(query, params) as copy:
                for data in copy:
                    batch.append(data)
                    if len(batch) == LINES_PER_BATCH:
                        yield _copy_text(batch), len(batch)
                        done += len(batch)
                        batch.clear()
                        self.progress(done, self.total)
        if batch:
            yield _copy_text(batch), len(batch)
            done += len(batch)
        self.progress(done, self.total)

    def _ratings(self, pairs: QuerySet) -> Iterator[tuple[int, str, str]]:
        """(candidate_id, username, label) of submitted ratings, in candidate order."""
        return (
            Rating.objects.filter(
                assignment__project_id__in=self.project_ids,
                assignment__state=Assignment.State.SUBMITTED,
                candidate_id__in=pairs.values("candidate_id"),
            )
            .order_by("candidate_id", "assignment__annotator__username")
            .values_list("candidate_id", "assignment__annotator__username", "label")
            .iterator(chunk_size=self.chunk_size * 3)
        )


# --- Lines rendered by PostgreSQL -------------------------------------------------------
#
# For the text formats PostgreSQL renders each output line itself and the export only
# streams text: no per-row Python objects, no datetime parsing, no JSON encoding. The
# SQL below writes exactly the bytes the Python path above writes (json.dumps with
# ensure_ascii=False and compact separators, csv.writer with QUOTE_MINIMAL, repr() of
# floats, datetime.isoformat() in UTC); tests/export/test_sql_lines.py compares the two.
# Other databases (the SQLite demo) keep the Python path.

# Column kinds: how a value is written. Anything not listed is text.
INT_COLUMNS = {
    "project_id",
    "task_id",
    "candidate_id",
    "slot",
    "retrieval_rank",
    "votes_good",
    "votes_partial",
    "votes_bad",
}
FLOAT_COLUMNS = {"similarity", "agreement"}
LINES_PER_BATCH = 5000
# COPY's text format backslash-escapes these; the lines never hold another escape.
_COPY_ESCAPES = {b"\\": b"\\", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_COPY_ESCAPE = re.compile(rb"\\(.)", re.S)


def _copy_text(rows: list) -> bytes:
    """Rows of COPY's text format, unescaped: each is its line and COPY's `\\n`."""
    data = b"".join(rows)
    if b"\\" in data:
        data = _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES[m[1]], data)
    return data


def sql_literal(text: str) -> str:
    """A constant string as an SQL literal (for keys and labels written by the code)."""
    return "'" + text.replace("'", "''") + "'"


def sql_float_text(expr: str) -> str:
    """repr() of a float8: PostgreSQL prints shortest round-trip digits like Python, but
    integral values without `.0` (and -0 as `-0`)."""
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN {expr} <> trunc({expr}) OR abs({expr}) >= 1e16 OR {expr} = 'NaN'::float8 THEN ({expr})::text "
        f"WHEN {expr} = 0 AND ({expr})::text = '-0' THEN '-0.0' "
        f"ELSE ({expr})::bigint::text || '.0' END"
    )


def sql_iso_time(expr: str) -> str:
    """datetime.isoformat() of a timestamptz in UTC (microseconds only when not zero)."""
    utc = f"({expr} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN date_trunc('second', {utc}) = {utc} THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00' END"
    )


def sql_json_value(name: str, expr: str) -> str:
    """One column as row_to_json should print it: numbers and text as they are (it escapes
    text as json.dumps does), floats and `annotators` as ready JSON, times as isoformat."""
    if name == "annotators":
        return f"({expr})::json"
    if name in INT_COLUMNS:
        return expr
    if name in FLOAT_COLUMNS:
        return f"({sql_float_text(expr)})::json"
    if name == "decided_at":
        return sql_iso_time(expr)
    return f"({expr})::text"


class JsonObject(list):
    """(key, value expression) pairs that lines() prints as one compact JSON object per
    row with row_to_json (one C call a row; keys in order, no spaces)."""


def sql_json_object(pairs: list[tuple[str, str]]) -> JsonObject:
    return JsonObject(pairs)


def sql_csv_value(name: str, expr: str) -> str:
    """One csv.writer cell: None is empty; quoted when it holds , \" \\r or \\n."""
    if name in INT_COLUMNS:
        return f"COALESCE(({expr})::text, '')"
    if name in FLOAT_COLUMNS:
        return f"COALESCE({sql_float_text(expr)}, '')"
    text = sql_iso_time(expr) if name == "decided_at" else f"({expr})::text"
    if name == "decided_at":
        return f"COALESCE({text}, '')"
    return (
        f"CASE WHEN {text} IS NULL THEN '' WHEN strpos({text}, ',') > 0 OR strpos({text}, '\"') > 0 "
        f"OR strpos({text}, E'\\r') > 0 OR strpos({text}, E'\\n') > 0 "
        f"THEN '\"' || replace({text}, '\"', '\"\"') || '\"' ELSE {text} END"
    )


def sql_csv_row(values: list[str]) -> str:
    parts = []
    for index, value in enumerate(values):
        if index:
            parts.append("','")
        parts.append(value)
    parts.append("E'\\r'")  # COPY adds the newline
    return _concat(parts)


def _concat(parts: list[str]) -> str:
    """concat() takes at most 100 arguments: nest larger lists."""
    while len(parts) > 90:
        parts = [f"concat({', '.join(parts[i : i + 90])})" for i in range(0, len(parts), 90)]
    return f"concat({', '.join(parts)})"


def sql_annotators(project_ids: list[int]) -> str:
    """A relation (candidate_id, annotators): the JSON text of [{annotator, label}] of each
    rated candidate of the projects, sorted by username as rows() does. One pass over the
    ratings, sorted once (a lookup per pair costs three index probes each)."""
    user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    ids = ", ".join(str(int(i)) for i in project_ids)
    return f"""(SELECT s.candidate_id, concat('[', string_agg(s.one, ','), ']') AS annotators
         FROM (SELECT ra.candidate_id, concat('{{"annotator":', to_json(u.username::text)::text,
                      ',"label":', to_json(ra.label::text)::text, '}}') AS one
               FROM {Rating._meta.db_table} ra
               JOIN {Assignment._meta.db_table} a ON a.id = ra.assignment_id
               JOIN {user_table} u ON u.id = a.annotator_id
               WHERE a.state = {sql_literal(Assignment.State.SUBMITTED)} AND a.project_id IN ({ids})
               ORDER BY ra.candidate_id, u.username, a.id) s
         GROUP BY s.candidate_id)"""
