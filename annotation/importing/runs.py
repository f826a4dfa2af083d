"""Import runs started from the API: fetch and unpack uploads (on the worker), run the
import, record progress, remove the run's files."""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .. import storage, sweeper
from ..models import ImportRun
from .archives import ArchiveError, archive_stem, extract_archive, is_archive
from .errors import BundleError, RowError
from .loader import ImportSummary, import_bundle

logger = logging.getLogger(__name__)


class UploadError(ValueError):
    pass


def allowed_source(path: str) -> Path:
    """Resolve a server path (a bundle folder or archive) and check it lies under
    PAIRRATE_IMPORT_ROOTS, symbolic links resolved."""
    resolved = Path(path).resolve()
    for root in settings.PAIRRATE_IMPORT_ROOTS:
        if resolved.is_relative_to(Path(root).resolve()):
            return resolved
    roots = ", ".join(str(r) for r in settings.PAIRRATE_IMPORT_ROOTS)
    raise UploadError(f"{path} is outside the import folders ({roots})")


def run_files_kept() -> bool:
    return bool(getattr(settings, "PAIRRATE_KEEP_IMPORT_FILES", False))


def _import(run: ImportRun, progress) -> ImportSummary:
    """Check the source again here, unpack an archive on this worker, import; the run's
    uploaded and unpacked files are removed when it ends, whatever the outcome (unless
    PAIRRATE_KEEP_IMPORT_FILES)."""
    scratch = Path(settings.PAIRRATE_UPLOAD_ROOT)
    for pattern in (f"unpacked-{run.pk}-*", f"fetched-{run.pk}-*"):  # left by a killed attempt of this run
        for stale in scratch.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    unpacked = fetched = None
    try:
        if is_stored_upload(run):
            fetched = scratch / f"fetched-{run.pk}-{uuid.uuid4().hex}"
            source = _fetch_upload(run.source, fetched)
        else:
            try:
                source = allowed_source(run.source)
            except UploadError as exc:
                raise BundleError([RowError(Path(run.source).name, None, None, str(exc))]) from None
        if run.upload and not source.exists():
            raise BundleError([RowError(source.name, None, None, REMOVED)])
        if source.is_file():
            progress("unpacking", 0, 1)
            unpacked = scratch / f"unpacked-{run.pk}-{uuid.uuid4().hex}"
            try:
                source = extract_archive(source, unpacked / archive_stem(source.name))
            except ArchiveError as exc:
                raise BundleError([RowError(source.name, None, None, str(exc))]) from None
        return import_bundle(source, run.dataset_name or None, None, progress)
    finally:
        _remove_run_files(run, unpacked, fetched)


REMOVED = "the uploaded archive was removed when an earlier attempt ended; upload it again"


def is_stored_upload(run: ImportRun) -> bool:
    """An upload the web process published to the object store (source: a storage name)."""
    return run.upload and not Path(run.source).is_absolute()


def _fetch_upload(name: str, folder: Path) -> Path:
    """This worker's own copy of an uploaded bundle (read once: not through the cache)."""
    target = folder / Path(name).name
    try:
        storage.fetch(name, target)
    except FileNotFoundError:
        raise BundleError([RowError(Path(name).name, None, None, REMOVED)]) from None
    return target


def _remove_run_files(run: ImportRun, unpacked: Path | None, fetched: Path | None = None) -> None:
    if run_files_kept():
        return
    for folder in (unpacked, fetched):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if is_stored_upload(run):
        try:
            storage.delete(run.source)
        except storage.StorageError:  # the import's outcome stands; the object is left, logged
            logger.warning("uploaded bundle left in storage", extra={"import": run.pk, "object": run.source})
        return
    upload = Path(run.source)
    # The web request put each upload alone in a fresh <uuid hex> folder: remove that folder.
    if run.upload and is_archive(upload.name) and re.fullmatch(r"[0-9a-f]{32}", upload.parent.name):
        shutil.rmtree(upload.parent, ignore_errors=True)


def execute_run(run_id: int) -> ImportRun:
    """Run one import; its state, progress (throttled writes) and errors land on the row."""
    run = ImportRun.objects.get(pk=run_id)
    if run.state == ImportRun.State.SUCCEEDED:
        return run  # a redelivered task: the work is done
    if run.state == ImportRun.State.RUNNING and not sweeper.is_stale(run.heartbeat_at):
        return run  # a duplicate message: another attempt is alive (annotation.sweeper)
    run.state, run.progress, run.errors, run.heartbeat_at = ImportRun.State.RUNNING, 0.0, [], timezone.now()
    run.save(update_fields=["state", "progress", "errors", "heartbeat_at"])
    last_write = [0.0]
    latest: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        latest.update(progress=fraction, counts={"stage": stage})
        now = time.monotonic()
        if connection.vendor == "sqlite" and now - last_write[0] > 0.5:
            last_write[0] = now
            ImportRun.objects.filter(pk=run_id).update(**latest)
        # Elsewhere the heartbeat thread writes the latest progress on its own connection:
        # this one is inside the import's transaction, which would hold the row until commit.

    try:
        with sweeper.beating(ImportRun, run.pk, extra=lambda: dict(latest)):
            sweeper.drill_pause("import")
            summary = _import(run, progress)
    except BundleError as exc:
        run.state, run.errors = ImportRun.State.FAILED, [e.as_dict() for e in exc.errors]
    except Exception as exc:  # recorded for the admin, then re-raised for the worker log
        run.state = ImportRun.State.FAILED
        run.errors = [RowError(run.source, None, None, f"{type(exc).__name__}: {exc}").as_dict()]
        run.finished_at = timezone.now()
        _save_final(run)
        raise
    else:
        run.state, run.progress, run.counts = ImportRun.State.SUCCEEDED, 1.0, summary.as_dict()
        run.dataset_name = summary.dataset
    run.finished_at = timezone.now()
    _save_final(run)
    return run


def _save_final(run: ImportRun) -> None:
    """The end state on a fresh connection, retried while the database comes back (a
    dropped connection must not leave the run `running`)."""
    fields = ["state", "progress", "counts", "errors", "dataset_name", "finished_at"]
    if not sweeper.write_with_retry(lambda: run.save(update_fields=fields), f"the end of import {run.pk}"):
        raise RuntimeError(f"import {run.pk} ended {run.state} but the database was unreachable to record it")
