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


@app.task(name="tasks.cpu.run_stage")
def run_stage(project_id: int, stage: str) -> None:
    """Run one launch stage (or fan it out into parts); see annotation.pipeline.runner."""
    from annotation.pipeline import runner

    runner.run_stage(project_id, stage)


@app.task(name="tasks.cpu.run_part")
def run_part(project_id: int, stage: str, index: int) -> None:
    """A CPU part of a fanned-out stage (video posters, audio waveforms)."""
    from annotation.pipeline import runner

    runner.run_part(project_id, stage, index)


@app.task(name="tasks.cpu.export_ratings")
def export_ratings(run_id: int) -> str:
    """Run an ExportRun; idempotent (a finished run is skipped, an interrupted one restarts)."""
    from annotation.export.runs import execute_run

    return execute_run(run_id).state
