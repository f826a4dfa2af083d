"""Write parsed rows to the database: COPY on PostgreSQL, bulk upserts elsewhere.

Both writers upsert by (dataset, external_id), so importing the same bundle twice
changes nothing. They run inside the caller's transaction and report unknown
references (paired items, vector ids) as row errors instead of writing them.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Iterable

from django.db import connections

from ..models import Caption, CaptionVector, Item, ItemVector
from .rows import CaptionRows, ItemRows
from .errors import RowError

BATCH = 5000
ITEM_OPTIONAL = ("media", "source_dataset", "license", "metadata")
CAPTION_OPTIONAL = ("source_modality", "paired_item", "source_dataset", "license", "metadata")


def updated_fields(required: str, optional: tuple[str, ...], carried: set[str]) -> list[str]:
    """Fields a re-import overwrites: the required one and the optional ones the file carries
    (an absent optional column leaves the stored values alone)."""
    return [required, *(f for f in optional if f in carried)]


def set_clause(fields: list[str]) -> str:
    columns = {"paired_item": "paired_item_id"}
    return ", ".join(f"{columns.get(f, f)} = EXCLUDED.{columns.get(f, f)}" for f in fields)


def writer_for(using: str):
    vendor = connections[using].vendor
    return PostgresWriter(using) if vendor == "postgresql" else OrmWriter(using)


class OrmWriter:
    """Portable path (SQLite demo): bulk_create with update_conflicts."""

    def __init__(self, using: str):
        self.using = using

    def upsert_items(self, dataset_id: int, rows: ItemRows) -> None:
        fields = updated_fields("modality", ITEM_OPTIONAL, rows.carried)
        for start in range(0, len(rows), BATCH):
            objs = [
                Item(
                    dataset_id=dataset_id,
                    external_id=rows.external_id[i],
                    modality=rows.modality[i],
                    media=rows.media[i],
                    source_dataset=rows.source_dataset[i],
                    license=rows.license[i],
                    metadata=rows.metadata[i],
                )
                for i in range(start, min(start + BATCH, len(rows)))
            ]
            Item.objects.using(self.using).bulk_create(
                objs, update_conflicts=True, unique_fields=["dataset", "external_id"], update_fields=fields
            )

    def upsert_captions(self, dataset_id: int, rows: CaptionRows) -> list[RowError]:
        items = Item.objects.using(self.using).filter(dataset_id=dataset_id)
        item_ids = self._ids(items, set(filter(None, rows.paired_external_id)))
        errors = unknown_paired_errors(rows, item_ids.keys())
        if errors:
            return errors
        fields = updated_fields("text", CAPTION_OPTIONAL, rows.carried)
        for start in range(0, len(rows), BATCH):
            objs = [
                Caption(
                    dataset_id=dataset_id,
                    external_id=rows.external_id[i],
                    text=rows.text[i],
                    source_modality=rows.source_modality[i],
                    paired_item_id=item_ids.get(rows.paired_external_id[i]),
                    source_dataset=rows.source_dataset[i],
                    license=rows.license[i],
                    metadata=rows.metadata[i],
                )
                for i in range(start, min(start + BATCH, len(rows)))
            ]
            Caption.objects.using(self.using).bulk_create(
                objs, update_conflicts=True, unique_fields=["dataset", "external_id"], update_fields=fields
            )
        return []

    def map_vectors(self, side: str, dataset_id: int, space, shard_id: int, ids: list[str]) -> list[str]:
        model, vector_model, key = (
            (Caption, CaptionVector, "caption") if side == "captions" else (Item, ItemVector, "item")
        )
        queryset = model.objects.using(self.using).filter(dataset_id=dataset_id)
        if side == "items":
            queryset = queryset.filter(modality=space.target_modality)
        known = self._ids(queryset, set(ids))
        missing = [i for i in ids if i not in known]
        if missing:
            return missing
        for start in range(0, len(ids), BATCH):
            objs = [
                vector_model(space=space, shard_id=shard_id, row=row, **{f"{key}_id": known[ids[row]]})
                for row in range(start, min(start + BATCH, len(ids)))
            ]
            vector_model.objects.using(self.using).bulk_create(
                objs, update_conflicts=True, unique_fields=["space", key], update_fields=["shard", "row"]
            )
        return []

    @staticmethod
    def _ids(queryset, wanted: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        wanted_list = list(wanted)
        for start in range(0, len(wanted_list), 900):  # SQLite caps bound parameters
            chunk = wanted_list[start : start + 900]
            found.update(queryset.filter(external_id__in=chunk).values_list("external_id", "id"))
        return found


def unknown_paired_errors(rows: CaptionRows, known: Iterable[str]) -> list[RowError]:
    known = set(known)
    errors = []
    for index, paired in enumerate(rows.paired_external_id):
        if paired and paired not in known:
            file, line = rows.lines[index]
            errors.append(RowError(file, line, "paired_item", f"unknown paired item {paired!r}"))
    return errors


class PostgresWriter:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT per table."""

    def __init__(self, using: str):
        self.using = using
        self.connection = connections[using]

    def _copy(self, cursor, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
        """COPY rows (CSV format, written by the C csv module) into a fresh temp table."""
        # Joins of a million staged rows against the target table stay in memory
        # instead of spilling to disk in batches (the default work_mem is 4 MB).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        column_sql = ", ".join(f"{c} text" for c in columns)
        cursor.execute(f"CREATE TEMP TABLE {table} (line bigint, {column_sql}) ON COMMIT DROP")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        # FORCE_NOT_NULL: an empty field is an empty string, never NULL.
        options = f"FORMAT csv, FORCE_NOT_NULL ({', '.join(columns)})"
        with cursor.cursor.copy(f"COPY {table} FROM STDIN WITH ({options})") as copy:
            for number, row in enumerate(rows):
                writer.writerow((number, *row))
                if buffer.tell() > 1 << 22:
                    copy.write(buffer.getvalue())
                    buffer.seek(0)
                    buffer.truncate()
            copy.write(buffer.getvalue())

    def upsert_items(self, dataset_id: int, rows: ItemRows) -> None:
        metadata = ("{}" if not m else json.dumps(m, separators=(",", ":")) for m in rows.metadata)
        with self.connection.cursor() as cursor:
            self._copy(
                cursor,
                "import_items",
                ["external_id", "modality", "media", "source_dataset", "license", "metadata"],
                zip(rows.external_id, rows.modality, rows.media, rows.source_dataset, rows.license, metadata),
            )
            cursor.execute(
                f"""INSERT INTO {Item._meta.db_table}
                        (dataset_id, external_id, modality, media, source_dataset, license, metadata)
                    SELECT %s, external_id, modality, media, source_dataset, license, metadata::jsonb
                    FROM import_items
                    ON CONFLICT (dataset_id, external_id) DO UPDATE SET
                        {set_clause(updated_fields("modality", ITEM_OPTIONAL, rows.carried))}""",
                [dataset_id],
            )

    def upsert_captions(self, dataset_id: int, rows: CaptionRows) -> list[RowError]:
        metadata = ("{}" if not m else json.dumps(m, separators=(",", ":")) for m in rows.metadata)
        item_table = Item._meta.db_table
        with self.connection.cursor() as cursor:
            self._copy(
                cursor,
                "import_captions",
                ["external_id", "text", "source_modality", "paired", "source_dataset", "license", "metadata"],
                zip(
                    rows.external_id,
                    rows.text,
                    rows.source_modality,
                    rows.paired_external_id,
                    rows.source_dataset,
                    rows.license,
                    metadata,
                ),
            )
            cursor.execute(
                f"""SELECT c.line FROM import_captions c
                    LEFT JOIN {item_table} i ON i.dataset_id = %s AND i.external_id = c.paired
                    WHERE c.paired <> '' AND i.id IS NULL ORDER BY c.line LIMIT 50""",
                [dataset_id],
            )
            bad = [row[0] for row in cursor.fetchall()]
            if bad:
                errors = []
                for index in bad:
                    file, line = rows.lines[index]
                    errors.append(
                        RowError(file, line, "paired_item", f"unknown paired item {rows.paired_external_id[index]!r}")
                    )
                return errors
            cursor.execute(
                f"""INSERT INTO {Caption._meta.db_table}
                        (dataset_id, external_id, text, source_modality, paired_item_id,
                         source_dataset, license, metadata)
                    SELECT %s, c.external_id, c.text, c.source_modality, i.id,
                           c.source_dataset, c.license, c.metadata::jsonb
                    FROM import_captions c
                    LEFT JOIN {item_table} i ON i.dataset_id = %s AND i.external_id = c.paired
                    ON CONFLICT (dataset_id, external_id) DO UPDATE SET
                        {set_clause(updated_fields("text", CAPTION_OPTIONAL, rows.carried))}""",
                [dataset_id, dataset_id],
            )
        return []

    def map_vectors(self, side: str, dataset_id: int, space, shard_id: int, ids: list[str]) -> list[str]:
        if side == "captions":
            target, vector_table, key, extra = Caption._meta.db_table, CaptionVector._meta.db_table, "caption_id", ""
        else:
            target, vector_table, key, extra = (
                Item._meta.db_table,
                ItemVector._meta.db_table,
                "item_id",
                "AND t.modality = %s",
            )
        params = [dataset_id] + ([space.target_modality] if extra else [])
        with self.connection.cursor() as cursor:
            self._copy(cursor, "import_vector_ids", ["external_id"], ((i,) for i in ids))
            cursor.execute(
                f"""INSERT INTO {vector_table} (space_id, {key}, shard_id, row)
                    SELECT %s, t.id, %s, v.line
                    FROM import_vector_ids v
                    JOIN {target} t ON t.dataset_id = %s AND t.external_id = v.external_id {extra}
                    ON CONFLICT (space_id, {key}) DO UPDATE SET
                        shard_id = EXCLUDED.shard_id, row = EXCLUDED.row""",
                [space.id, shard_id] + params,
            )
            if cursor.rowcount == len(ids):
                return []
            # Some ids matched nothing: name them (the caller rolls the transaction back).
            cursor.execute(
                f"""SELECT v.external_id FROM import_vector_ids v
                    LEFT JOIN {target} t ON t.dataset_id = %s AND t.external_id = v.external_id {extra}
                    WHERE t.id IS NULL ORDER BY v.line LIMIT 50""",
                params,
            )
            return [row[0] for row in cursor.fetchall()]
