"""The rated pairs an export reads: one consistent snapshot, streamed in chunks.

`snapshot()` opens one read-only REPEATABLE READ transaction (PostgreSQL), so every
query of an export (the pairs, their ratings, the items they reference) sees the same
moment while annotators keep submitting. Rows come from server-side cursors
(`.iterator(chunk_size=...)`); each annotator's label is merged in from a second
cursor ordered the same way, so memory stays constant whatever the size.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import QuerySet

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

    def rows(self, queryset: QuerySet | None = None, order: tuple[str, ...] = ("candidate_id",),
             with_annotators: bool = True) -> Iterator[dict]:
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

    def _ratings(self, pairs: QuerySet) -> Iterator[tuple[int, str, str]]:
        """(candidate_id, username, label) of submitted ratings, in candidate order."""
        return (Rating.objects
                .filter(assignment__project_id__in=self.project_ids,
                        assignment__state=Assignment.State.SUBMITTED,
                        candidate_id__in=pairs.values("candidate_id"))
                .order_by("candidate_id", "assignment__annotator__username")
                .values_list("candidate_id", "assignment__annotator__username", "label")
                .iterator(chunk_size=self.chunk_size * 3))
