"""Planner statistics after bulk writes.

PostgreSQL plans the hot claim and stats queries from table statistics that autovacuum
refreshes some time after a table changes (or never, when autovacuum is off or behind).
Right after a launch COPYs a hundred thousand tasks, or an import upserts a dataset, the
statistics still describe the table before it: measured with autovacuum off, throughput at
30 annotators fell from 207 to 112 tasks/s on a 100k-task project. So the code that bulk
writes analyses what it wrote. ANALYZE samples a fixed number of rows (default 30,000
pages at most), so it takes well under a second even on millions of rows; inside a
transaction it counts that transaction's own new rows.
"""

from __future__ import annotations

import logging
import time

from django.db import connections

logger = logging.getLogger(__name__)


def analyze(*models, using: str = "default") -> None:
    """ANALYZE the models' tables on PostgreSQL (nothing elsewhere)."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not models:
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")
    logger.info("analyzed %s in %.2f s", tables, time.perf_counter() - started)
