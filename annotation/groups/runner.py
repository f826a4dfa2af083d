"""Drive a groups build with Celery, keeping its state in the database.

plan (cpu) -> search parts (gpu, fanned out) -> one merge per caption chunk (cpu),
dispatched by the search part that completes the chunk -> finish (cpu: IVF recall,
export), dispatched by the last merge. Each step is idempotent and `acks_late`: a
redelivered task finds its part done and only makes sure what follows is dispatched;
a part a killed worker left undone is simply computed again, to the same bytes.
"""

from __future__ import annotations

import logging
import traceback

from django.db import transaction
from django.utils import timezone

from ..jobs import send
from ..models import GroupsBuild, GroupsPart
from . import export, parts, plan, store

logger = logging.getLogger(__name__)
State = GroupsBuild.State
FINISH_SHARE = 0.05  # of the progress bar


class GroupsStateError(plan.GroupsRequestError):
    def __init__(self, code: str, message: str):
        super().__init__(code, message, status=409)


# ---- admin actions ----------------------------------------------------------


def start(build_id: int) -> None:
    transaction.on_commit(lambda: dispatch_plan(build_id))


def cancel(build_id: int) -> GroupsBuild:
    with transaction.atomic():
        build = GroupsBuild.objects.select_for_update().get(pk=build_id)
        if build.state not in plan.ACTIVE:
            raise GroupsStateError("not_running", f"the build is {build.state}, not running")
        build.state, build.finished_at = State.CANCELLED, timezone.now()
        build.save(update_fields=["state", "finished_at"])
    return build


def retry(build_id: int) -> GroupsBuild:
    """Run a failed or cancelled build on: parts already done are kept."""
    with transaction.atomic():
        build = GroupsBuild.objects.select_for_update().get(pk=build_id)
        if build.state not in (State.FAILED, State.CANCELLED):
            raise GroupsStateError("nothing_to_retry", f"the build is {build.state}")
        if GroupsBuild.objects.filter(pool_key=build.pool_key, state__in=plan.ACTIVE).exclude(pk=build.pk).exists():
            raise GroupsStateError("build_running", "another build is running on this pool")
        build.state, build.error, build.finished_at = State.RUNNING, "", None
        build.save(update_fields=["state", "error", "finished_at"])
        transaction.on_commit(lambda: dispatch_plan(build_id))
    return build


# ---- dispatch: queued by task name (annotation/jobs.py) ---------------------------


def dispatch_plan(build_id: int) -> None:
    send("tasks.cpu.groups_plan", build_id)


def dispatch_search(build_id: int, part_ids: list[int]) -> None:
    for part_id in part_ids:
        send("tasks.gpu.groups_search", build_id, part_id)


def dispatch_merge(build_id: int, chunk: int) -> None:
    send("tasks.cpu.groups_merge", build_id, chunk)


def dispatch_finish(build_id: int) -> None:
    send("tasks.cpu.groups_finish", build_id)


def _dispatch_pending(build: GroupsBuild) -> None:
    """After commit: every part that can run now and is not done."""
    pending = list(build.parts.filter(kind="search", state="pending").order_by("pk").values_list("pk", flat=True))
    ready = _ready_merges(build)
    finish = not pending and not ready and not build.parts.filter(kind="merge", state="pending").exists()
    transaction.on_commit(
        lambda: (
            dispatch_search(build.pk, pending),
            [dispatch_merge(build.pk, c) for c in ready],
            finish and dispatch_finish(build.pk),
        )
    )


def _ready_merges(build: GroupsBuild, chunks=None) -> list[int]:
    merges = build.parts.filter(kind="merge", state="pending")
    if chunks is not None:
        merges = merges.filter(caption_chunk__in=chunks)
    waiting = set(build.parts.filter(kind="search", state="pending").values_list("caption_chunk", flat=True))
    return [c for c in merges.order_by("caption_chunk").values_list("caption_chunk", flat=True) if c not in waiting]


# ---- run by the workers ------------------------------------------------------


def run_plan(build_id: int) -> None:
    with transaction.atomic():
        build = GroupsBuild.objects.select_for_update().get(pk=build_id)
        if build.state not in plan.ACTIVE:
            return
        if build.state == State.PENDING:
            build.state, build.started_at = State.RUNNING, timezone.now()
        build.attempts += 1
        build.save(update_fields=["state", "started_at", "attempts"])
        planned = build.parts.exists()
    try:
        if not planned:
            counts = plan.make_plan(build)
            GroupsBuild.objects.filter(pk=build_id).update(counts=counts)
        with transaction.atomic():
            build = GroupsBuild.objects.select_for_update().get(pk=build_id)
            if build.state == State.RUNNING:
                _dispatch_pending(build)
    except Exception as exc:
        _fail(build_id, exc)


def _mark_done(build: GroupsBuild, part: GroupsPart, worker: str) -> None:
    part.state, part.worker, part.finished_at = GroupsPart.State.DONE, worker[:200], timezone.now()
    part.save(update_fields=["state", "worker", "finished_at"])
    total = build.parts.count()
    done = build.parts.filter(state="done").count()
    GroupsBuild.objects.filter(pk=build.pk).update(progress=(1 - FINISH_SHARE) * done / max(total, 1))


def run_search(build_id: int, part_id: int, worker: str = "") -> None:
    build = GroupsBuild.objects.get(pk=build_id)
    part = GroupsPart.objects.filter(pk=part_id, build=build).first()
    if build.state != State.RUNNING or part is None:
        return
    try:
        if part.state == GroupsPart.State.PENDING:
            GroupsPart.objects.filter(pk=part_id).update(attempts=part.attempts + 1)
            parts.search_part(build, part)
        with transaction.atomic():
            build = GroupsBuild.objects.select_for_update().get(pk=build_id)
            part = GroupsPart.objects.select_for_update().get(pk=part_id)
            if part.state == GroupsPart.State.PENDING:
                _mark_done(build, part, worker)
            if build.state == State.RUNNING:
                ready = _ready_merges(build, [part.caption_chunk])
                transaction.on_commit(lambda: [dispatch_merge(build_id, c) for c in ready])
    except Exception as exc:
        _fail(build_id, exc)


def run_merge(build_id: int, chunk: int, worker: str = "") -> None:
    build = GroupsBuild.objects.get(pk=build_id)
    part = build.parts.filter(kind="merge", caption_chunk=chunk).first()
    if build.state != State.RUNNING or part is None:
        return
    try:
        if part.state == GroupsPart.State.PENDING:
            GroupsPart.objects.filter(pk=part.pk).update(attempts=part.attempts + 1)
            parts.merge_chunk(build, chunk)
        with transaction.atomic():
            build = GroupsBuild.objects.select_for_update().get(pk=build_id)
            part = GroupsPart.objects.select_for_update().get(pk=part.pk)
            if part.state == GroupsPart.State.PENDING:
                _mark_done(build, part, worker)
            if build.state == State.RUNNING and not build.parts.filter(state="pending").exists():
                transaction.on_commit(lambda: dispatch_finish(build_id))
    except Exception as exc:
        _fail(build_id, exc)


def run_finish(build_id: int) -> None:
    """IVF recall, then the outputs; the build succeeds with its files' checksums."""
    build = GroupsBuild.objects.get(pk=build_id)
    if build.state != State.RUNNING or build.parts.filter(state="pending").exists():
        return
    try:
        recall = parts.recall(build) if build.method == GroupsBuild.Method.IVF else {}
        output_path, files = export.export_build(build)
        with transaction.atomic():
            build = GroupsBuild.objects.select_for_update().get(pk=build_id)
            if build.state != State.RUNNING:
                return
            build.recall, build.output_path, build.files = recall, output_path, files
            build.state, build.progress, build.finished_at = State.SUCCEEDED, 1.0, timezone.now()
            build.save(update_fields=["recall", "output_path", "files", "state", "progress", "finished_at"])
        logger.info("groups build finished", extra={"build": build_id, "counts": build.counts})
        _remove_parts(build_id)
    except Exception as exc:
        _fail(build_id, exc)


def _remove_parts(build_id: int) -> None:
    """The merged chunks stay (iter_groups reads them); the per-part files are no longer needed."""
    store.remove_parts(build_id)


def _fail(build_id: int, exc: Exception) -> None:
    logger.exception("groups build failed", extra={"build": build_id})
    message = f"{type(exc).__name__}: {exc}"
    GroupsBuild.objects.filter(pk=build_id, state__in=plan.ACTIVE).update(
        state=State.FAILED, error=message + "\n\n" + traceback.format_exc(limit=5), finished_at=timezone.now()
    )
