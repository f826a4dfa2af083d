"""Import runs started from the API: unpack uploads (on the worker), run the import,
record progress, remove the run's files."""
from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..models import ImportRun
from .archives import ArchiveError, archive_stem, extract_archive, is_archive
from .errors import BundleError, RowError
from .loader import ImportSummary, import_bundle


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
    for stale in scratch.glob(f"unpacked-{run.pk}-*"):  # left by a killed attempt of this run
        shutil.rmtree(stale, ignore_errors=True)
    unpacked = None
    try:
        try:
            source = allowed_source(run.source)
        except UploadError as exc:
            raise BundleError([RowError(Path(run.source).name, None, None, str(exc))]) from None
        if run.upload and not source.exists():
            raise BundleError([RowError(source.name, None, None,
                                        "the uploaded archive was removed when an earlier attempt ended; "
                                        "upload it again")])
        if source.is_file():
            progress("unpacking", 0, 1)
            unpacked = scratch / f"unpacked-{run.pk}-{uuid.uuid4().hex}"
            try:
                source = extract_archive(source, unpacked / archive_stem(source.name))
            except ArchiveError as exc:
                raise BundleError([RowError(source.name, None, None, str(exc))]) from None
        return import_bundle(source, run.dataset_name or None, None, progress)
    finally:
        _remove_run_files(run, unpacked)


def _remove_run_files(run: ImportRun, unpacked: Path | None) -> None:
    if run_files_kept():
        return
    if unpacked is not None:
        shutil.rmtree(unpacked, ignore_errors=True)
    upload = Path(run.source)
    # The web request put each upload alone in a fresh <uuid hex> folder: remove that folder.
    if run.upload and is_archive(upload.name) and re.fullmatch(r"[0-9a-f]{32}", upload.parent.name):
        shutil.rmtree(upload.parent, ignore_errors=True)


def execute_run(run_id: int) -> ImportRun:
    """Run one import; its state, progress (throttled writes) and errors land on the row."""
    run = ImportRun.objects.get(pk=run_id)
    if run.state == ImportRun.State.SUCCEEDED:
        return run  # a redelivered task: the work is done
    run.state, run.progress, run.errors = ImportRun.State.RUNNING, 0.0, []
    run.save(update_fields=["state", "progress", "errors"])
    last_write = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last_write[0] > 0.5:
            last_write[0] = now
            fraction = done / total if total else 1.0
            ImportRun.objects.filter(pk=run_id).update(progress=fraction, counts={"stage": stage})

    try:
        summary = _import(run, progress)
    except BundleError as exc:
        run.state, run.errors = ImportRun.State.FAILED, [e.as_dict() for e in exc.errors]
    except Exception as exc:  # recorded for the admin, then re-raised for the worker log
        run.state = ImportRun.State.FAILED
        run.errors = [RowError(run.source, None, None, f"{type(exc).__name__}: {exc}").as_dict()]
        run.finished_at = timezone.now()
        run.save()
        raise
    else:
        run.state, run.progress, run.counts = ImportRun.State.SUCCEEDED, 1.0, summary.as_dict()
        run.dataset_name = summary.dataset
    run.finished_at = timezone.now()
    run.save()
    return run
