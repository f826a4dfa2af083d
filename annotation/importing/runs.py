"""Import runs started from the API: unpack uploads, run the import, record progress."""
from __future__ import annotations

import shutil
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..models import ImportRun
from .errors import BundleError, RowError
from .loader import import_bundle


class UploadError(ValueError):
    pass


def allowed_source(path: str) -> Path:
    """Resolve a server path and check it lies under PAIRRATE_IMPORT_ROOTS."""
    resolved = Path(path).resolve()
    for root in settings.PAIRRATE_IMPORT_ROOTS:
        if resolved.is_relative_to(Path(root).resolve()):
            return resolved
    roots = ", ".join(str(r) for r in settings.PAIRRATE_IMPORT_ROOTS)
    raise UploadError(f"{path} is outside the import folders ({roots})")


def unpack_upload(uploaded) -> Path:
    """Unpack a .zip or .tar(.gz) bundle into its own folder; refuse paths that escape it."""
    target = Path(settings.PAIRRATE_UPLOAD_ROOT) / uuid.uuid4().hex
    target.mkdir(parents=True)
    name = uploaded.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(uploaded) as archive:
                for member in archive.namelist():
                    _check_member(target, member)
                archive.extractall(target)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(fileobj=uploaded, mode="r:*") as archive:
                archive.extractall(target, filter="data")
        else:
            raise UploadError("upload a .zip, .tar or .tar.gz bundle")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise UploadError(f"corrupt archive: {exc}") from None
    except UploadError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    entries = [p for p in target.iterdir()]
    # An archive of one folder holding the bundle: import that folder.
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def _check_member(target: Path, member: str) -> None:
    if not (target / member).resolve().is_relative_to(target.resolve()):
        raise UploadError(f"archive member {member!r} escapes the bundle folder")


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
        summary = import_bundle(run.source, run.dataset_name or None, None, progress)
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
