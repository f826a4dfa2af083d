"""On PostgreSQL the text formats are rendered in SQL (rows.ExportSource.lines); the
Python path (rows()) stays for other databases. Both must write the same bytes."""

from __future__ import annotations

from datetime import datetime, timezone as tz

import pytest
from django.db import connection

from annotation.export import create_run, execute_run
from annotation.export.rows import ExportSource, sql_float_text, sql_iso_time
from annotation.models import Caption, Item, PairResult, TaskCandidate
from django.contrib.auth import get_user_model

TRICKY = [
    'quote " and, comma',
    "new\nline and\r\nwindows",
    "tab\there",
    "back\\slash \\n not a newline",
    "control \x01\x1f and del \x7f",
    "ünïcödé — “quotes” 🐕 \u2028",
    "plain",
    "",
    "ends with \\",
]


def both_paths(world, monkeypatch, fmt: str, **kwargs) -> tuple[bytes, bytes]:
    projects = [world.three.pk, world.single.pk]
    with monkeypatch.context() as patch:
        patch.setattr(ExportSource, "rows", None)  # the SQL path must not need it
        fast = execute_run(create_run(projects, fmt, **kwargs).pk)
    with monkeypatch.context() as patch:
        patch.setattr(ExportSource, "renders_sql", property(lambda self: False))
        slow = execute_run(create_run(projects, fmt, **kwargs).pk)
    assert fast.state == slow.state == "succeeded", (fast.error, slow.error)
    assert fast.row_count == slow.row_count
    return fast.absolute_path.read_bytes(), slow.absolute_path.read_bytes()


@pytest.fixture
def tricky_world(world):
    for caption, text in zip(Caption.objects.order_by("pk"), TRICKY):
        caption.text = text
        caption.save(update_fields=["text"])
    Item.objects.filter(external_id="img1").update(media='we,ird/"path"\\x.bin', license="")
    Caption.objects.filter(external_id="cap1").update(paired_item=None, source_modality="")
    similarities = [1.0, 0.0, -0.0, 1e-05, 0.1 + 0.2, 123.0, -0.5, 2.5e-07, 0.9, 1e15 + 0.0, -1.0]
    for candidate, similarity in zip(TaskCandidate.objects.order_by("pk"), similarities):
        candidate.similarity = similarity
        candidate.save(update_fields=["similarity"])
    moments = [datetime(2024, 2, 29, 23, 59, 59, tzinfo=tz.utc), datetime(2025, 1, 1, 0, 0, 0, 7, tzinfo=tz.utc)]
    for result, moment in zip(PairResult.objects.order_by("pk"), moments):
        PairResult.objects.filter(pk=result.pk).update(updated_at=moment)
    get_user_model().objects.filter(username="ann-b").update(username='ann "b",\\')
    return world


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_sql_rendering_writes_the_python_bytes(tricky_world, monkeypatch, fmt):
    fast, slow = both_paths(tricky_world, monkeypatch, fmt)
    assert fast == slow
    assert b"\\\\n not a newline" in fast if fmt == "jsonl" else b"\\n not a newline" in fast


def test_sql_rendering_with_filters(tricky_world, monkeypatch):
    fast, slow = both_paths(
        tricky_world, monkeypatch, "jsonl", filters={"labels": ["good", "bad"], "min_agreement": 0.3, "gold": "exclude"}
    )
    assert fast == slow and fast


@pytest.mark.django_db
def test_floats_and_times_print_as_python_does():
    values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        0.1,
        0.1 + 0.2,
        1 / 3,
        1e-05,
        1.5e-10,
        123456.0,
        1e15,
        9.5e15,
        123456789012345.6,
        2.0**52,
        1e16,
        1.5e17,
        float("nan"),
        float("inf"),
        float("-inf"),
        0.9 - 0.1,
    ]
    with connection.cursor() as cursor:
        for value in values:
            cursor.execute(f"SELECT {sql_float_text('v.x')} FROM (SELECT %s::float8 AS x) v", [value])
            assert cursor.fetchone()[0] == repr(value).replace("nan", "NaN").replace("inf", "Infinity"), value
        for moment in [
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz.utc),
            datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=tz.utc),
            datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=tz.utc),
        ]:
            cursor.execute(f"SELECT {sql_iso_time('v.t')} FROM (SELECT %s::timestamptz AS t) v", [moment])
            assert cursor.fetchone()[0] == moment.isoformat()


def test_sql_rendering_of_training_pairs(tricky_world, monkeypatch):
    fast, slow = both_paths(tricky_world, monkeypatch, "pairs", options={"partial": "positive"})
    assert fast == slow and fast.count(b"\n") == 13


def test_parquet_from_rendered_lines_holds_the_same_table(tricky_world, monkeypatch):
    import io as _io

    import pyarrow.parquet as pq

    fast, slow = both_paths(tricky_world, monkeypatch, "parquet")
    fast_table, slow_table = pq.read_table(_io.BytesIO(fast)), pq.read_table(_io.BytesIO(slow))
    assert fast_table.schema == slow_table.schema
    assert fast_table.to_pylist() == slow_table.to_pylist()
    assert len(fast_table) == 14


def test_emm1_triplets_rendered_in_sql_are_the_same_bytes(tricky_world, monkeypatch):
    fast, slow = both_paths(tricky_world, monkeypatch, "emm1")
    assert fast == slow
