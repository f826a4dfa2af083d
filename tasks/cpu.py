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
    from annotation.screening.runs import after_import

    state = execute_run(run_id).state
    after_import(run_id)  # a succeeded import queues the screening of its media (once)
    return state


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


@app.task(name="tasks.cpu.screen_dataset")
def screen_dataset(run_id: int) -> None:
    """Plan a ScreeningRun into parts and queue them; idempotent (parts are fixed once)."""
    from annotation.screening import runs

    try:
        runs.plan(run_id)
    except Exception as exc:
        runs.fail(run_id, exc)
        raise


@app.task(name="tasks.cpu.screen_part")
def screen_part(run_id: int, index: int) -> None:
    """Probe one part's media files; idempotent (same files, same results; done parts skipped)."""
    from annotation.models import ScreeningRun
    from annotation.screening import runs
    from annotation.sweeper import beating, drill_pause

    try:
        with beating(ScreeningRun, run_id):  # a run whose parts all stop beating is swept
            drill_pause("screen_part")
            runs.screen_part(run_id, index)
    except Exception as exc:
        runs.fail(run_id, exc)
        raise


@app.task(name="tasks.cpu.groups_plan")
def groups_plan(build_id: int) -> None:
    """Plan a groups build into parts and dispatch them (or dispatch what is left)."""
    from annotation.groups import runner
    from annotation.models import GroupsBuild
    from annotation.sweeper import beating

    with beating(GroupsBuild, build_id):
        runner.run_plan(build_id)


@app.task(name="tasks.cpu.groups_merge", bind=True)
def groups_merge(self, build_id: int, chunk: int) -> None:
    """Merge one caption chunk's search parts into its groups; idempotent."""
    from annotation.groups import runner
    from annotation.models import GroupsBuild
    from annotation.sweeper import beating

    with beating(GroupsBuild, build_id):
        runner.run_merge(build_id, chunk, self.request.hostname or "")


@app.task(name="tasks.cpu.groups_finish")
def groups_finish(build_id: int) -> None:
    """IVF recall and the build's outputs (CSV + Parquet, checksummed)."""
    from annotation.groups import runner
    from annotation.models import GroupsBuild
    from annotation.sweeper import beating

    with beating(GroupsBuild, build_id):
        runner.run_finish(build_id)


@app.task(name="tasks.cpu.clean_groups")
def clean_groups(build_id: int, token: str) -> str | None:
    """Clean a groups build with rated projects' thresholds; idempotent (a superseded,
    finished or still-beating run is skipped; an interrupted one writes its output again)."""
    from annotation.insights.cleaning_runs import execute

    run = execute(build_id, token)
    return run.get("state") if run else None
