"""The claim query plans from fresh statistics right after create_tasks bulk-COPYs a project.

Autovacuum is turned off on the task table for the test (as on a database where it is off
or behind): only create_tasks' own ANALYZE can tell the planner about the new rows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

N = 20_000


@pytest.fixture
def autovacuum_off():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE annotation_task SET (autovacuum_enabled = false)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE annotation_task RESET (autovacuum_enabled)")


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_claim_query_after_create_tasks_uses_the_claim_index_with_a_sane_estimate(autovacuum_off):
    from annotation.models import Caption, Dataset, Item
    from annotation.pipeline import artifacts, stages
    from tests.export.builders import new_project

    dataset = Dataset.objects.create(name="big")
    items = Item.objects.bulk_create([Item(dataset=dataset, modality="image", external_id=f"i{i}") for i in range(4)])
    captions = Caption.objects.bulk_create(
        [Caption(dataset=dataset, external_id=f"c{i}", text=f"caption {i}", source_modality="image") for i in range(N)],
        batch_size=5000,
    )
    project = new_project("big", 1)
    caption_ids = np.array([c.id for c in captions], dtype=np.int64)
    item_ids = np.array([[items[i % 4].id, items[(i + 1) % 4].id] for i in range(N)], dtype=np.int64)
    artifacts.save(project.id, "filter", caption_ids=caption_ids)
    artifacts.save(
        project.id,
        "dedup",
        caption_ids=caption_ids,
        item_ids=item_ids,
        ranks=np.tile(np.array([0, 1], dtype=np.int64), (N, 1)),
        similarity=np.full((N, 2), 0.5, dtype=np.float32),
        audit=np.zeros(N, dtype=bool),
    )

    counts = stages.create_tasks(project, lambda fraction: None)
    assert counts["tasks"] == N

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'annotation_task'")
        assert cursor.fetchone()[0] == pytest.approx(N, rel=0.1), "the table's row count is known"
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT t.id FROM annotation_task t WHERE t.project_id = %s"
            " AND (t.open_slots > 0 OR t.open_slots IS NULL)"
            " ORDER BY t.open_slots ASC NULLS LAST, t.position LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
            [project.id],
        )
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    scans = [node for node in _plan_nodes(plan) if node.get("Relation Name") == "annotation_task"]
    assert scans and scans[0]["Node Type"] == "Index Scan" and scans[0]["Index Name"] == "task_claim", scans
    # The planner knows this project holds all N open tasks (without statistics it guessed ~1 %).
    assert scans[0]["Plan Rows"] >= N / 2, scans[0]["Plan Rows"]
