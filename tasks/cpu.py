"""Tasks for the `cpu` queue."""
from __future__ import annotations

from .celery_app import app


@app.task(name="tasks.cpu.ping")
def ping() -> str:
    """Round trip through the broker; used by health checks and tests."""
    return "pong"


@app.task(name="tasks.cpu.import_dataset")
def import_dataset(run_id: int) -> str:
    """Run an ImportRun created by the API; idempotent (upserts, and done runs are skipped)."""
    from annotation.importing.runs import execute_run

    return execute_run(run_id).state
