"""Write a launch's tasks and candidates: COPY on PostgreSQL, bulk_create elsewhere.

A launch creates one task per sampled caption and a few candidates each: hundreds of
thousands of rows, where bulk_create spends most of its time building model instances
and parameter lists. COPY streams plain tuples instead.
"""

from __future__ import annotations

import json

import numpy as np
from django.db import connections

from ..models import Task, TaskCandidate

BATCH = 5000
TASK_COLUMNS = ("project_id", "caption_id", "paired_item_id", "position", "nsfw_scores")
CANDIDATE_COLUMNS = ("task_id", "item_id", "slot", "retrieval_rank", "similarity")


def write_tasks(
    project_id: int,
    caption_ids: np.ndarray,
    paired: dict[int, int | None],
    nsfw_scores: list[dict],
    items: np.ndarray,
    ranks: np.ndarray,
    sims: np.ndarray,
) -> int:
    """Insert task p for caption_ids[p] (position p) with candidates items[p, slot];
    returns the number of candidates. Runs in the caller's transaction."""
    connection = connections[Task.objects.db]
    write = _copy if connection.vendor == "postgresql" else _bulk_create
    task_rows = ((project_id, int(c), paired.get(int(c)), p, nsfw_scores[p]) for p, c in enumerate(caption_ids))
    write(connection, Task, TASK_COLUMNS, task_rows)
    positions = Task.objects.filter(project_id=project_id).values_list("position", "id")
    task_ids = np.empty(len(caption_ids), dtype=np.int64)
    for position, task_id in positions.iterator(chunk_size=50_000):
        task_ids[position] = task_id
    slots = items.shape[1]
    candidate_rows = (
        (int(task_ids[p]), int(items[p, s]), s, int(ranks[p, s]), float(sims[p, s]))
        for p in range(len(caption_ids))
        for s in range(slots)
    )
    write(connection, TaskCandidate, CANDIDATE_COLUMNS, candidate_rows)
    return len(caption_ids) * slots


def _copy(connection, model, columns, rows) -> None:
    json_columns = [i for i, name in enumerate(columns) if name == "nsfw_scores"]
    with connection.cursor() as cursor:
        sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                if json_columns:
                    row = tuple(json.dumps(v) if i in json_columns else v for i, v in enumerate(row))
                copy.write_row(row)


def _bulk_create(connection, model, columns, rows) -> None:
    batch = []
    for row in rows:
        batch.append(model(**dict(zip(columns, row))))
        if len(batch) == BATCH:
            model.objects.bulk_create(batch)
            batch = []
    model.objects.bulk_create(batch)
