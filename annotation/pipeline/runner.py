"""Drive a launch through its stages with Celery, keeping state in PipelineStage rows.

The database, not a Celery canvas, is the source of truth: each stage task marks its
row, and the task that completes a stage dispatches the next one after commit. A
fanned-out stage (match, media) records which parts are done; the part that finishes
last completes the stage. Redelivered tasks (acks_late, a killed worker) find their
stage's state and redo or skip their work; every stage is deterministic, so a redo
gives the same result.
"""
from __future__ import annotations

import logging
import time
import traceback

from django.db import transaction
from django.utils import timezone

from ..models import PipelineStage, Project
from . import artifacts, stages
from .validation import instance_errors

logger = logging.getLogger(__name__)

STAGE_ORDER = ["curate", "filter", "match", "dedup", "create_tasks", "media"]
SIMPLE = {"curate": stages.curate, "filter": stages.filter_captions, "dedup": stages.deduplicate,
          "create_tasks": stages.create_tasks}
FANNED = {"match": (stages.match_parts, stages.match_part, stages.match_merge),
          "media": (stages.media_parts, stages.media_part, None)}
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
            [PipelineStage(project=project, name=name, order=i) for i, name in enumerate(STAGE_ORDER)])
        project.state, project.launched_at = Project.State.LAUNCHING, timezone.now()
        project.save(update_fields=["state", "launched_at"])
        transaction.on_commit(lambda: (artifacts.clear(project_id), dispatch_stage(project_id, STAGE_ORDER[0])))


def cancel(project_id: int) -> None:
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        if project.state != Project.State.LAUNCHING:
            raise LaunchError("not_running", f"the project is {project.state}, not launching")
        project.stages.filter(state__in=[State.PENDING, State.RUNNING]).update(
            state=State.CANCELLED, finished_at=timezone.now())
        project.state = Project.State.CANCELLED
        project.save(update_fields=["state"])


def retry(project_id: int) -> str:
    """Re-run the failed (or cancelled) stage and what follows it."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        if project.state not in (Project.State.FAILED, Project.State.CANCELLED):
            raise LaunchError("nothing_to_retry", f"the project is {project.state}")
        stage = project.stages.exclude(state=State.SUCCEEDED).order_by("order").first()
        if stage is None:
            raise LaunchError("nothing_to_retry", "every stage has succeeded")
        project.stages.filter(order__gte=stage.order).update(
            state=State.PENDING, progress=0.0, error="", counts={})
        project.state = Project.State.LAUNCHING
        project.save(update_fields=["state"])
        transaction.on_commit(lambda: dispatch_stage(project_id, stage.name))
        return stage.name


# ---- dispatch (the only place that knows about Celery) -----------------------

def dispatch_stage(project_id: int, name: str) -> None:
    from tasks.cpu import run_stage

    run_stage.delay(project_id, name)


def dispatch_part(project_id: int, part: stages.Part) -> None:
    from tasks import cpu, gpu

    task = gpu.run_part if part.queue == "gpu" else cpu.run_part
    task.delay(project_id, part.stage, part.index)


# ---- run by the workers ------------------------------------------------------

def _begin(project_id: int, name: str) -> tuple[Project, PipelineStage] | None:
    """Mark the stage running; None when there is nothing to do (cancelled, done)."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        stage = project.stages.get(name=name)
        if project.state != Project.State.LAUNCHING or stage.state in (State.CANCELLED, State.FAILED):
            return None
        if stage.state == State.SUCCEEDED:
            _dispatch_next_if_pending(project, stage)  # a redelivery after a crash before dispatch
            return None
        stage.state, stage.attempts = State.RUNNING, stage.attempts + 1
        stage.started_at = stage.started_at or timezone.now()
        stage.save(update_fields=["state", "attempts", "started_at"])
    return project, stage


def run_stage(project_id: int, name: str) -> None:
    begun = _begin(project_id, name)
    if begun is None:
        return
    project, stage = begun
    try:
        if name in FANNED:
            parts = FANNED[name][0](project)
            PipelineStage.objects.filter(pk=stage.pk).update(counts={"parts": len(parts), "per_part": {}})
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
    try:
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
    logger.exception("stage failed", extra={"project": project_id, "stage": name})
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        message = f"{type(exc).__name__}: {exc}"
        project.stages.filter(name=name).update(
            state=State.FAILED, error=message + "\n\n" + traceback.format_exc(limit=5), finished_at=timezone.now())
        if project.state == Project.State.LAUNCHING:
            project.state = Project.State.FAILED
            project.save(update_fields=["state"])


def _reporter(stage_id: int):
    """progress(fraction) that writes at most twice a second."""
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or fraction >= 1.0:
            last[0] = now
            PipelineStage.objects.filter(pk=stage_id).update(progress=min(max(fraction, 0.0), 1.0))

    return report
