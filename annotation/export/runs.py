"""Export runs: checked when requested, executed on the worker (or the command line).

`create_run` refuses bad input before anything is stored. `execute_run` is idempotent
and safe to redeliver: a finished run is left alone; an interrupted one removes its
`.tmp-*` leftovers and starts again. The file is written to a local temp file and reaches
its storage name (the media root, or the bucket) only when complete (writer.staged_file,
publish_file); the sha256 and row count are stored with the `succeeded` state, after the
upload, so an unfinished export is never listed as done.

Faults: the progress thread also beats `heartbeat_at` (annotation.sweeper re-dispatches a
run whose heartbeat stopped); a run that finds another attempt running with a live
heartbeat leaves it alone; the final state is written on a fresh connection, retried while
the database comes back, so a dropped connection ends `failed` (retry-able), not `running`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from .. import storage, sweeper
from ..models import ExportRun, Project
from .filters import FilterError, parse_filters
from .formats import FORMATS, OptionError, check_options, extension
from .rows import ExportSource, snapshot
from .writer import publish_file, remove_partials, staged_file, staging_folder

Progress = Callable[[str, int, int], None]


class ExportRequestError(ValueError):
    """Bad request: `field` names what is wrong (format, filters.<key>, options, projects)."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


def create_run(
    project_ids: list[int], fmt: str, filters: dict | None = None, options: dict | None = None, user=None
) -> ExportRun:
    if fmt not in FORMATS:
        raise ExportRequestError("format", f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    ids = sorted(set(project_ids))
    if not ids:
        raise ExportRequestError("projects", "name at least one project")
    found = set(Project.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in found]:
        raise ExportRequestError("projects", f"no project with id {', '.join(map(str, missing))}", 404)
    try:
        parsed = parse_filters(filters)
    except FilterError as exc:
        raise ExportRequestError(f"filters.{exc.key}", exc.message) from None
    try:
        options = check_options(fmt, options)
    except OptionError as exc:
        raise ExportRequestError("options", str(exc)) from None
    with transaction.atomic():
        run = ExportRun.objects.create(format=fmt, filters=parsed.as_dict(), options=options, created_by=user)
        run.projects.set(ids)
    return run


def execute_run(run_id: int, progress: Progress | None = None) -> ExportRun:
    run = ExportRun.objects.get(pk=run_id)
    if run.state == ExportRun.State.SUCCEEDED and run.file_path and storage.exists(run.file_path):
        return run  # a redelivered task: the work is done
    if run.state == ExportRun.State.RUNNING and not sweeper.is_stale(run.heartbeat_at):
        return run  # a duplicate message: another attempt is alive
    if not run.file_path:
        # An unguessable folder: media storage may be served by the web server.
        run.file_path = (
            f"exports/{run.pk}-{secrets.token_hex(8)}/pairrate-export-{run.pk}.{extension(run.format, run.options)}"
        )
    run.state, run.progress, run.error, run.sha256 = ExportRun.State.RUNNING, 0.0, "", ""
    run.attempts += 1
    run.started_at, run.finished_at, run.row_count, run.size_bytes = timezone.now(), None, None, None
    run.heartbeat_at = timezone.now()
    run.save()
    remove_partials(staging_folder(run.file_path))
    recorder = _ProgressRecorder(run.pk, progress)
    try:
        sweeper.drill_pause("export")
        with staged_file(run.file_path) as temp:
            rows = _write(run, temp, recorder)
            sha256, size = publish_file(temp, run.file_path)
        run.state, run.progress, run.row_count, run.sha256 = ExportRun.State.SUCCEEDED, 1.0, rows, sha256
        run.size_bytes = size
    except FilterError as exc:  # e.g. a source dataset deleted since the request
        run.state, run.error = ExportRun.State.FAILED, f"filters.{exc.key}: {exc.message}"
    except Exception as exc:  # recorded for the admin, then re-raised for the worker log
        run.state, run.error, run.finished_at = ExportRun.State.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
        recorder.stop()
        _save_final(run)
        raise
    recorder.stop()
    run.finished_at = timezone.now()
    _save_final(run)
    return run


FINAL_FIELDS = ["state", "progress", "row_count", "sha256", "size_bytes", "error", "finished_at", "file_path"]


def _save_final(run: ExportRun) -> None:
    """The end state, on a fresh connection if the old one broke; raises ExportStateLost
    when the database stays unreachable (the run then keeps a stale heartbeat and the
    sweeper runs it again)."""
    if not sweeper.write_with_retry(lambda: run.save(update_fields=FINAL_FIELDS), f"the end of export {run.pk}"):
        raise ExportStateLost(f"export {run.pk} ended {run.state} but the database was unreachable to record it")


class ExportStateLost(RuntimeError):
    pass


def _write(run: ExportRun, path: Path, recorder: "_ProgressRecorder") -> int:
    filters = parse_filters(run.filters)
    project_ids = sorted(run.projects.values_list("pk", flat=True))
    with snapshot():
        source = ExportSource(project_ids, filters, progress=recorder)
        source.count()
        return FORMATS[run.format].write(source, path, run.options)


class _ProgressRecorder:
    """Takes progress calls from the export loop; a thread writes the latest one to the run
    every half second on its own connection (the loop's connection is inside the
    read-only snapshot transaction)."""

    INTERVAL = 0.5

    def __init__(self, run_id: int, echo: Progress | None):
        self.run_id, self.echo = run_id, echo
        self.latest: tuple[int, int] | None = None
        self.written: tuple[int, int] | None = None
        self.done = threading.Event()
        self.thread = None
        if connection.vendor != "sqlite":  # SQLite allows one writer: the demo skips live progress
            self.thread = threading.Thread(target=self._loop, name=f"export-{run_id}-progress", daemon=True)
            self.thread.start()

    def __call__(self, done: int, total: int | None) -> None:
        total = max(total or 0, done)
        self.latest = (done, total)
        if self.echo:
            self.echo("exporting", done, total)

    def _loop(self) -> None:
        from django.db import connection as thread_connection

        from django.conf import settings
        from django.db import Error

        beat_every = float(settings.PAIRRATE_HEARTBEAT_INTERVAL)
        last_beat = time.monotonic()
        try:
            while not self.done.wait(min(self.INTERVAL, beat_every)):
                latest = self.latest
                beat = time.monotonic() - last_beat >= beat_every
                try:
                    if latest is not None and latest != self.written:
                        done, total = latest
                        ExportRun.objects.filter(pk=self.run_id).update(
                            progress=min(done / total, 0.99) if total else 0.0,
                            row_count=done,
                            heartbeat_at=timezone.now(),
                        )
                        self.written, last_beat = latest, time.monotonic()
                    elif beat:
                        ExportRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                        last_beat = time.monotonic()
                except Error:  # database away: the export loop will see it too; try again next beat
                    thread_connection.close()
        finally:
            thread_connection.close()

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.echo and self.latest:
            self.echo("exporting", *self.latest)
