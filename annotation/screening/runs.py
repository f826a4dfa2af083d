"""Screen a dataset's media on the `cpu` queue, in parts, and record each item's result.

`start` creates a ScreeningRun and queues `tasks.cpu.screen_dataset`; that task fixes
the parts (item id ranges) once and queues one `tasks.cpu.screen_part` per part; the
part that completes the set finishes the run, with counts taken from the items
themselves. Every step is idempotent: a redelivered part probes the same files and
writes the same results, and re-screening a dataset gives the same statuses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from .. import storage
from ..jobs import send
from ..media_paths import UnsafeMediaPath
from ..media_sources import is_remote, unread_schemes
from ..models import Dataset, ImportRun, Item, ScreeningRun, ScreenStatus
from . import probe

logger = logging.getLogger(__name__)
State = ScreeningRun.State
REMOTE_REASON = "remote media (URL): not probed"
MAX_PARTS = 2000  # bigger datasets get bigger parts: the run row and the queue stay small


def limits() -> probe.Limits:
    return probe.Limits(
        frame_rate_tolerance=settings.PAIRRATE_SCREEN_FRAME_RATE_TOLERANCE,
        min_points=settings.PAIRRATE_SCREEN_MIN_POINTS,
    )


def screen_item(modality: str, media: str, probe_limits: probe.Limits) -> tuple[str, str]:
    """(status, reason) of one item. Files are opened only through storage.local_media: a
    confined path in media storage, or a cached copy of the object (media in place in the
    bucket included, when the object store is configured)."""
    if not media:
        return ScreenStatus.FAILED, "no media file or URL"
    if is_remote(media):
        return ScreenStatus.SKIPPED, REMOTE_REASON
    try:
        path = storage.local_media(media)
    except UnsafeMediaPath as exc:
        return ScreenStatus.FAILED, probe._short(str(exc))
    except FileNotFoundError:
        return ScreenStatus.FAILED, "file not found"
    except storage.StorageUnavailable:
        raise  # an outage: the part fails and is retried
    except storage.StorageError as exc:  # the bucket refuses this object (credentials, policy)
        return ScreenStatus.FAILED, probe._short(str(exc))
    reason = probe.probe(path, modality, probe_limits)
    return (ScreenStatus.OK, "") if reason is None else (ScreenStatus.FAILED, reason)


# ---- requests -------------------------------------------------------------------------


def start(dataset: Dataset, import_run: ImportRun | None = None, queue: bool = True) -> ScreeningRun:
    """Queue a screening of every item of `dataset` (after commit; `queue=False` only
    creates the run, for `run_here`). One run per import: a redelivered import task
    finds its run and queues nothing new."""
    if not queue:
        return ScreeningRun.objects.create(dataset=dataset)
    with transaction.atomic():
        if import_run is not None:
            run, created = ScreeningRun.objects.get_or_create(import_run=import_run, defaults={"dataset": dataset})
            if not created:
                return run
        else:
            run = ScreeningRun.objects.create(dataset=dataset)
        transaction.on_commit(lambda: send("tasks.cpu.screen_dataset", run.pk))
    return run


def after_import(import_run_id: int) -> ScreeningRun | None:
    """Screen the dataset a succeeded import wrote (PAIRRATE_SCREEN_AFTER_IMPORT, default on)."""
    if not settings.PAIRRATE_SCREEN_AFTER_IMPORT:
        return None
    run = ImportRun.objects.filter(pk=import_run_id, state=ImportRun.State.SUCCEEDED).first()
    dataset = run and Dataset.objects.filter(name=run.dataset_name).first()
    return start(dataset, run) if dataset else None


# ---- run by the workers -----------------------------------------------------------------


def run_here(run: ScreeningRun, report: Callable[[int], None] | None = None) -> ScreeningRun:
    """Screen in this process, part after part (the `screen_media` command)."""
    for index in plan(run.pk, queue=False):
        screen_part(run.pk, index, report)
    run.refresh_from_db()
    return run


def plan(run_id: int, queue: bool = True) -> list[int]:
    """Fix the parts (once) and queue every part not yet done; returns their indexes."""
    with transaction.atomic():
        run = ScreeningRun.objects.select_for_update().get(pk=run_id)
        if run.state in (State.SUCCEEDED, State.FAILED):
            return []
        if run.state == State.PENDING:
            items = Item.objects.filter(dataset_id=run.dataset_id)
            # Remote media are not probed: one UPDATE marks them (rows already marked are left alone).
            items.filter(_remote()).exclude(screen_status=ScreenStatus.SKIPPED, screen_reason=REMOTE_REASON).update(
                screen_status=ScreenStatus.SKIPPED, screen_reason=REMOTE_REASON, screened_at=timezone.now()
            )
            local = items.exclude(_remote())
            size = max(settings.PAIRRATE_SCREEN_PART_ITEMS, -(-local.count() // MAX_PARTS))
            run.bounds = _part_bounds(local, size)
            run.state, run.done_parts, run.progress = State.RUNNING, {}, 0.0
            run.save(update_fields=["bounds", "state", "done_parts", "progress"])
            if not run.bounds:
                _finish(run)
                return []
        todo = [i for i in range(len(run.bounds)) if str(i) not in run.done_parts]
        if queue:
            transaction.on_commit(lambda: [send("tasks.cpu.screen_part", run_id, i) for i in todo])
    return todo


def _remote() -> Q:
    """Item.media values `media_sources.is_remote` accepts (a scheme not read here and a
    host), in SQL."""
    remote = Q(pk__in=[])
    for scheme in unread_schemes():
        remote |= Q(media__istartswith=f"{scheme}://") & ~Q(media__istartswith=f"{scheme}:///")
    return remote


def _part_bounds(items, size: int) -> list[list[int]]:
    """[first id, last id] of each run of `size` items in id order, computed by the
    database (a dataset of 100M items never becomes a Python list of ids)."""
    numbered = items.annotate(part=(Window(RowNumber(), order_by=F("id").asc()) - 1) / size).values("id", "part")
    inner, params = numbered.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id) FROM ({inner}) numbered GROUP BY part ORDER BY part", params)
        return [[int(first), int(last)] for first, last in cursor.fetchall()]


def screen_part(run_id: int, index: int, report: Callable[[int], None] | None = None) -> dict | None:
    """Probe the items of part `index` and store their results; the last part finishes."""
    run = ScreeningRun.objects.get(pk=run_id)
    if run.state != State.RUNNING or str(index) in run.done_parts:
        return None
    first, last = run.bounds[index]
    items = list(
        Item.objects.filter(dataset_id=run.dataset_id, id__gte=first, id__lte=last)
        .exclude(_remote())
        .only("id", "modality", "media")
        .order_by("id")
    )
    probe_limits, now = limits(), timezone.now()
    counts = {status: 0 for status in (ScreenStatus.OK, ScreenStatus.FAILED, ScreenStatus.SKIPPED)}
    for item in items:
        item.screen_status, item.screen_reason = screen_item(item.modality, item.media, probe_limits)
        item.screened_at = now
        if report:
            report(1)
    if settings.PAIRRATE_SCREEN_EXPLICIT_MEDIA:
        flag_explicit(items)
    for item in items:
        counts[item.screen_status] += 1
    Item.objects.bulk_update(items, ["screen_status", "screen_reason", "screened_at"], batch_size=500)
    with transaction.atomic():
        run = ScreeningRun.objects.select_for_update().get(pk=run_id)
        if run.state != State.RUNNING:
            return counts
        run.done_parts = {**run.done_parts, str(index): {str(k): v for k, v in counts.items()}}
        run.progress = len(run.done_parts) / len(run.bounds)
        run.save(update_fields=["done_parts", "progress"])
        if len(run.done_parts) == len(run.bounds):
            _finish(run)
    return counts


_media_scorer = None


def flag_explicit(items: list[Item]) -> None:
    """The optional media NSFW check (PAIRRATE_SCREEN_EXPLICIT_MEDIA): photos, and the first
    frame of videos, scored by open_nsfw (sampling/nsfw_media.py); an item at or over
    PAIRRATE_SCREEN_EXPLICIT_THRESHOLD fails screening, so matching leaves it out of tasks."""
    import tempfile

    from sampling.nsfw_media import MediaScorer

    global _media_scorer
    checked = [item for item in items if item.screen_status == ScreenStatus.OK and item.modality in ("image", "video")]
    if not checked:
        return
    _media_scorer = _media_scorer or MediaScorer()
    with tempfile.TemporaryDirectory(prefix="pairrate-explicit-") as scratch:
        paths = [
            storage.local_media(item.media)
            if item.modality == "image"
            else _first_frame(storage.local_media(item.media), Path(scratch) / f"{item.id}.jpg")
            for item in checked
        ]
        scores, _ = _media_scorer.score_files([str(p) for p in paths])
    threshold = settings.PAIRRATE_SCREEN_EXPLICIT_THRESHOLD
    for item, score in zip(checked, scores):
        if score >= threshold:  # NaN (unreadable) compares False: the decode probes judged those
            item.screen_status = ScreenStatus.FAILED
            item.screen_reason = f"explicit {item.modality}: open_nsfw {score:.2f} >= {threshold:g}"


def _first_frame(source: Path, target: Path) -> Path:
    import av

    with av.open(str(source)) as container:
        for frame in container.decode(video=0):
            frame.to_image().convert("RGB").save(target, "JPEG", quality=95)
            break
    return target


def fail(run_id: int, exc: BaseException) -> None:
    logger.exception("screening failed", extra={"screening": run_id})
    ScreeningRun.objects.filter(pk=run_id).exclude(state=State.SUCCEEDED).update(
        state=State.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
    )


def summary(dataset: Dataset) -> dict[str, int]:
    """Items per screen status (every status present, zeros included)."""
    rows = dict(
        Item.objects.filter(dataset=dataset)
        .values_list("screen_status")
        .annotate(n=Count("id"))
        .values_list("screen_status", "n")
    )
    return {status: rows.get(status, 0) for status in ScreenStatus.values}


def _finish(run: ScreeningRun) -> None:
    """Inside the run's lock: counts from the items, and onto the import's result."""
    counts = summary(run.dataset)
    run.state, run.progress, run.counts, run.finished_at = State.SUCCEEDED, 1.0, counts, timezone.now()
    run.save(update_fields=["state", "progress", "counts", "finished_at"])
    if run.import_run_id:
        imported = ImportRun.objects.select_for_update().get(pk=run.import_run_id)
        imported.counts = {
            **imported.counts,
            "screened_ok": counts["ok"],
            "screened_failed": counts["failed"],
            "screened_skipped": counts["skipped"],
        }
        imported.save(update_fields=["counts"])
    logger.info("screening finished", extra={"screening": run.pk, "counts": counts})
