"""Drive a launch through its stages with Celery, keeping state in PipelineStage rows.

The database, not a Celery canvas, is the source of truth: each stage task marks its
row, and the task that completes a stage dispatches the next one after commit. A
fanned-out stage (match, media) records which parts are done; the part that finishes
last completes the stage. Redelivered tasks (acks_late, a killed worker) find their
stage's state and redo or skip their work; every stage is deterministic, so a redo
gives the same result.

Faults (annotation.sweeper): a running stage or part touches the stage's heartbeat; the
sweeper re-dispatches a stage (or its missing parts) whose heartbeat stopped. A dispatch
that fails (broker down) is recorded in the next stage's history and never turns the
finished stage into a failed one. State writes after an error use a fresh connection.
"""

from __future__ import annotations

import logging
import time
import traceback

from django.db import transaction
from django.utils import timezone

from ..jobs import send
from .. import sweeper
from ..models import PipelineStage, Project
from . import artifacts, stages
from .validation import instance_errors

logger = logging.getLogger(__name__)

STAGE_ORDER = ["curate", "filter", "match", "dedup", "create_tasks", "media"]
SIMPLE = {
    "curate": stages.curate,
    "filter": stages.filter_captions,
    "dedup": stages.deduplicate,
    "create_tasks": stages.create_tasks,
}
FANNED = {
    "match": (stages.match_parts, stages.match_part, stages.match_merge),
    "media": (stages.media_parts, stages.media_part, None),
}
State = PipelineStage.State


class LaunchError(Exception):
    def __init__(self, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or {}


# ---- admin actions ----------------------------------------------------------


def launch(project_id: int) -> None:
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        if project.state == Project.State.LAUNCHING:
            raise LaunchError("launch_running", "a launch of this project is already running")
        if project.state == Project.State.READY or project.tasks.exists():
            raise LaunchError("already_launched", "this project already has tasks; it cannot be launched twice")
        errors = instance_errors(project)
        if errors:
            raise LaunchError("invalid_project", "the project's settings cannot work", errors)
        project.stages.all().delete()
        PipelineStage.objects.bulk_create(
            [PipelineStage(project=project, name=name, order=i) for i, name in enumerate(STAGE_ORDER)]
        )
        project.state, project.launched_at = Project.State.LAUNCHING, timezone.now()
        project.save(update_fields=["state", "launched_at"])
        transaction.on_commit(lambda: (artifacts.clear(project_id), dispatch_stage(project_id, STAGE_ORDER[0])))


def cancel(project_id: int) -> None:
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        if project.state != Project.State.LAUNCHING:
            raise LaunchError("not_running", f"the project is {project.state}, not launching")
        project.stages.filter(state__in=[State.PENDING, State.RUNNING]).update(
            state=State.CANCELLED, finished_at=timezone.now()
        )
        project.state = Project.State.CANCELLED
        project.save(update_fields=["state"])


def retry(project_id: int) -> str:
    """Re-run the failed (or cancelled) stage and what follows it; or, for a launch whose
    current stage has shown no heartbeat for PAIRRATE_STALL_TIMEOUT (its task vanished),
    that stage."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        stuck = project.state == Project.State.LAUNCHING
        if project.state not in (Project.State.FAILED, Project.State.CANCELLED) and not stuck:
            raise LaunchError("nothing_to_retry", f"the project is {project.state}")
        stage = project.stages.exclude(state=State.SUCCEEDED).order_by("order").first()
        if stage is None:
            raise LaunchError("nothing_to_retry", "every stage has succeeded")
        if stuck and not sweeper.is_stale(stage.heartbeat_at or stage.started_at or project.launched_at):
            raise LaunchError(
                "launch_running",
                f"stage {stage.name} is {stage.state} and alive (heartbeat within "
                f"{sweeper.stall_timeout():.0f} s); retry it once it stalls or fails",
            )
        project.stages.filter(order__gte=stage.order).update(state=State.PENDING, progress=0.0, error="", counts={})
        event = "retried (stalled)" if stuck else "retried"
        stage.history = [*stage.history, sweeper.history_entry(event)]
        stage.save(update_fields=["history"])
        project.state = Project.State.LAUNCHING
        project.save(update_fields=["state"])
        transaction.on_commit(lambda: dispatch_stage(project_id, stage.name))
        return stage.name


# ---- dispatch: queued by task name (annotation/jobs.py) -----------------------


def dispatch_stage(project_id: int, name: str, stamp: bool = True) -> bool:
    """Send the stage's task. The dispatch stamps the heartbeat (so the sweeper waits a
    full timeout for the task to start); a failed send (broker down) is recorded in the
    stage's history and left to the sweeper, never raised into the caller's stage."""
    if stamp:
        PipelineStage.objects.filter(project_id=project_id, name=name).update(heartbeat_at=timezone.now())
    try:
        send("tasks.cpu.run_stage", project_id, name)
        return True
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; all mean "not sent"
        _dispatch_failed(project_id, name, exc)
        return False


def dispatch_part(project_id: int, part: stages.Part) -> bool:
    try:
        send(f"tasks.{'gpu' if part.queue == 'gpu' else 'cpu'}.run_part", project_id, part.stage, part.index)
        return True
    except Exception as exc:  # noqa: BLE001
        _dispatch_failed(project_id, part.stage, exc, part=part.index)
        return False


def _dispatch_failed(project_id: int, name: str, exc: Exception, part: int | None = None) -> None:
    what = name if part is None else f"{name} part {part}"
    logger.warning(
        "dispatch of %s failed (the sweeper will dispatch it again): %s: %s",
        what,
        type(exc).__name__,
        exc,
        extra={"project": project_id, "stage": name},
    )

    def record() -> None:
        with transaction.atomic():
            stage = PipelineStage.objects.select_for_update().filter(project_id=project_id, name=name).first()
            if stage is not None:
                detail = f"{type(exc).__name__}: {exc}" + ("" if part is None else f" (part {part})")
                stage.history = [*stage.history, sweeper.history_entry("dispatch failed", detail)]
                stage.save(update_fields=["history"])

    sweeper.write_with_retry(record, f"the failed dispatch of {what}")


def missing_parts(stage: PipelineStage) -> list[stages.Part] | None:
    """The parts of a running fanned-out stage not yet recorded as done; None when the
    stage is not one that has fanned out (re-dispatch the whole stage then)."""
    queues = stage.counts.get("part_queues") if isinstance(stage.counts, dict) else None
    if stage.name not in FANNED or stage.state != State.RUNNING or queues is None:
        return None
    done = stage.counts.get("per_part", {})
    missing = [stages.Part(stage.name, i, queue) for i, queue in enumerate(queues) if str(i) not in done]
    return missing or None


# ---- run by the workers ------------------------------------------------------


def _begin(project_id: int, name: str) -> tuple[Project, PipelineStage] | None:
    """Mark the stage running; None when there is nothing to do (cancelled, done, or
    running elsewhere with a live heartbeat: a duplicate message)."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        stage = project.stages.select_for_update().get(name=name)
        if project.state != Project.State.LAUNCHING or stage.state in (State.CANCELLED, State.FAILED):
            return None
        if stage.state == State.SUCCEEDED:
            _dispatch_next_if_pending(project, stage)  # a redelivery after a crash before dispatch
            return None
        if stage.state == State.RUNNING and not sweeper.is_stale(stage.heartbeat_at):
            logger.info(
                "stage already running with a live heartbeat; duplicate message skipped",
                extra={"project": project_id, "stage": name},
            )
            return None
        stage.state, stage.attempts = State.RUNNING, stage.attempts + 1
        stage.started_at = stage.started_at or timezone.now()
        stage.heartbeat_at = timezone.now()
        stage.save(update_fields=["state", "attempts", "started_at", "heartbeat_at"])
    return project, stage


def run_stage(project_id: int, name: str) -> None:
    try:
        begun = _begin(project_id, name)
    except Exception as exc:  # database down before the stage began: nothing to undo
        logger.warning(
            "stage could not begin: %s: %s", type(exc).__name__, exc, extra={"project": project_id, "stage": name}
        )
        sweeper.close_broken_connection()
        raise
    if begun is None:
        return
    project, stage = begun
    try:
        with sweeper.beating(PipelineStage, stage.pk):
            sweeper.drill_pause(name)
            if name in FANNED:
                parts = FANNED[name][0](project)
                PipelineStage.objects.filter(pk=stage.pk).update(
                    counts={"parts": len(parts), "part_queues": [p.queue for p in parts], "per_part": {}}
                )
                if not parts:
                    _complete(project_id, name, {"parts": 0})
                for part in parts:
                    dispatch_part(project_id, part)
            else:
                counts = SIMPLE[name](project, _reporter(stage.pk))
                _complete(project_id, name, counts)
    except Exception as exc:
        _fail(project_id, name, exc)


def run_part(project_id: int, name: str, index: int) -> None:
    project = Project.objects.get(pk=project_id)
    stage = project.stages.get(name=name)
    if project.state != Project.State.LAUNCHING or stage.state != State.RUNNING:
        return
    if str(index) in stage.counts.get("per_part", {}):
        return  # a duplicate of a part already recorded
    try:
        with sweeper.beating(PipelineStage, stage.pk):
            sweeper.drill_pause(f"{name}_part")
            part_counts = FANNED[name][1](project, index, lambda fraction: None)
        with transaction.atomic():
            stage = PipelineStage.objects.select_for_update().get(pk=stage.pk)
            if stage.state != State.RUNNING:
                return
            per_part = {**stage.counts.get("per_part", {}), str(index): part_counts}
            total = stage.counts["parts"]
            stage.counts, stage.progress = {**stage.counts, "per_part": per_part}, len(per_part) / total
            stage.save(update_fields=["counts", "progress"])
            if len(per_part) == total:
                counts = {"parts": total, **_sum_numbers(per_part.values())}
                merge = FANNED[name][2]
                if merge is not None:
                    counts.update(merge(project, total))
                _complete(project_id, name, counts)
    except Exception as exc:
        _fail(project_id, name, exc)


def _sum_numbers(rows) -> dict:
    totals: dict = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return totals


def _complete(project_id: int, name: str, counts: dict) -> None:
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        stage = project.stages.select_for_update().get(name=name)
        if stage.state != State.RUNNING:
            return
        stage.state, stage.progress, stage.counts = State.SUCCEEDED, 1.0, counts
        stage.finished_at = timezone.now()
        stage.save(update_fields=["state", "progress", "counts", "finished_at"])
        logger.info("stage finished", extra={"project": project_id, "stage": name, "counts": counts})
        if name == STAGE_ORDER[-1]:
            project.state = Project.State.READY
            project.save(update_fields=["state"])
        else:
            _dispatch_next_if_pending(project, stage)


def _dispatch_next_if_pending(project: Project, stage: PipelineStage) -> None:
    following = project.stages.filter(order=stage.order + 1, state=State.PENDING).first()
    if following is not None:
        transaction.on_commit(lambda: dispatch_stage(project.id, following.name))


def _fail(project_id: int, name: str, exc: Exception) -> None:
    """Record the failure on a fresh connection (the error may have been the connection
    dying), retrying while the database comes back; if it never does, the stage keeps a
    stale heartbeat and the sweeper takes it up."""
    logger.exception("stage failed", extra={"project": project_id, "stage": name})
    message = f"{type(exc).__name__}: {exc}"
    details = traceback.format_exc(limit=5)

    def record() -> None:
        with transaction.atomic():
            project = Project.objects.select_for_update().get(pk=project_id)
            project.stages.filter(name=name, state=State.RUNNING).update(
                state=State.FAILED, error=message + "\n\n" + details, finished_at=timezone.now()
            )
            if project.state == Project.State.LAUNCHING:
                project.state = Project.State.FAILED
                project.save(update_fields=["state"])

    sweeper.write_with_retry(record, f"the failure of stage {name}")


def _reporter(stage_id: int):
    """progress(fraction) that writes at most twice a second."""
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or fraction >= 1.0:
            last[0] = now
            PipelineStage.objects.filter(pk=stage_id).update(progress=min(max(fraction, 0.0), 1.0))

    return report
