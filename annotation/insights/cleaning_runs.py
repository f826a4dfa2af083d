"""Cleaning a groups build as a background job on the `cpu` queue (tasks.cpu.clean_groups).

A request checks what it can at once (cleaning.check), stores a run record and queues the
task by name (annotation/jobs.py); the worker fits and writes (cleaning.clean_build). The
record lives in the build's `counts["cleaning"]` (no table of its own, so no migration):

    {"token", "state": pending|running|succeeded|failed, "progress", "error", "attempts",
     "request": {"projects", "target", "label", "n_boot"}, "created_at", "started_at",
     "finished_at", "heartbeat_at", "manifest"}

`manifest` is set only when the output is complete: the database, not the folder, says
which output to serve. While it runs, a thread beats `heartbeat_at`. The task is idempotent: a message for a superseded token, a
finished run, or a run another attempt is still beating on, does nothing; anything else
(a redelivery after a killed worker: acks_late) writes the whole output again, published
whole, so a half-written attempt is never seen.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import sweeper
from ..jobs import send
from ..models import GroupsBuild, Project
from . import cleaning

KEY = "cleaning"
TASK = "tasks.cpu.clean_groups"
PROGRESS_EVERY_S = 0.5


class CleaningBusy(RuntimeError):
    """A cleaning of this build is running (its heartbeat is fresh)."""


def record(build: GroupsBuild) -> dict | None:
    return (build.counts or {}).get(KEY)


def manifest(build: GroupsBuild) -> dict | None:
    """The last complete output's manifest (None when never cleaned to the end)."""
    run = record(build)
    return run.get("manifest") if run else None


def _update(build_id: int, change) -> dict:
    """Read-modify-write the record under a row lock (other keys of `counts` untouched)."""
    with transaction.atomic():
        build = GroupsBuild.objects.select_for_update().get(pk=build_id)
        counts = dict(build.counts or {})
        counts[KEY] = run = change(dict(counts.get(KEY) or {}))
        build.counts = counts
        build.save(update_fields=["counts"])
    return run


def _now() -> str:
    return timezone.now().isoformat()


def is_live(run: dict | None) -> bool:
    return (
        bool(run)
        and run.get("state") == "running"
        and not sweeper.is_stale(parse_datetime(run["heartbeat_at"]) if run.get("heartbeat_at") else None)
    )


@contextmanager
def _heartbeat(build_id: int, token: str):
    """Beat the record while the fit and the writing run (either can outlast the stall
    timeout between progress calls), so a duplicate message leaves the live run alone."""

    def touch() -> None:
        _update(build_id, lambda r: {**r, "heartbeat_at": _now()} if r.get("token") == token else r)

    with sweeper.beating_with(touch, f"cleaning of groups build {build_id}"):
        yield


def start(
    build: GroupsBuild,
    projects: list[Project],
    target: float = 0.8,
    label: str = "good",
    n_boot: int = 1000,
    queue: bool = True,
) -> dict:
    """Check, store a pending record (keeping the last manifest until a new one is
    complete) and queue the task. Raises CleaningError or CleaningBusy; nothing queued."""
    cleaning.check(build, projects)
    token = secrets.token_hex(8)

    def pending(run: dict) -> dict:
        if is_live(run):
            raise CleaningBusy(f"groups build {build.pk} is being cleaned (started {run.get('started_at')})")
        return {
            "token": token,
            "state": "pending",
            "progress": 0.0,
            "error": "",
            "attempts": 0,
            "request": {"projects": sorted(p.pk for p in projects), "target": target, "label": label, "n_boot": n_boot},
            "created_at": _now(),
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": None,
            "manifest": run.get("manifest"),
        }

    run = _update(build.pk, pending)
    if queue:
        send(TASK, build.pk, token)
    return run


def execute(build_id: int, token: str) -> dict | None:
    """The task body: run the record with this token unless it is superseded, done, or
    alive in another attempt. Returns the record as left."""
    skip = {}

    def claim(run: dict) -> dict:
        if run.get("token") != token or run.get("state") == "succeeded" or is_live(run):
            skip["run"] = run
            return run
        return {
            **run,
            "state": "running",
            "progress": 0.0,
            "error": "",
            "attempts": run.get("attempts", 0) + 1,
            "started_at": _now(),
            "finished_at": None,
            "heartbeat_at": _now(),
        }

    run = _update(build_id, claim)
    if skip:
        return skip["run"]
    build = GroupsBuild.objects.get(pk=build_id)
    request = run["request"]
    projects = list(Project.objects.filter(pk__in=request["projects"]))
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            _update(
                build_id,
                lambda r: (
                    {**r, "progress": min(done / total, 0.99) if total else 0.0, "heartbeat_at": _now()}
                    if r.get("token") == token
                    else r
                ),
            )

    def finish(**fields):
        return _update(build_id, lambda r: {**r, **fields, "finished_at": _now()} if r.get("token") == token else r)

    try:
        with _heartbeat(build_id, token):
            result = cleaning.clean_build(
                build, projects, request["target"], request["label"], request["n_boot"], progress
            )
    except cleaning.CleaningError as exc:  # e.g. a project's ratings deleted since the request
        return finish(state="failed", error="; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items()))
    except Exception as exc:  # recorded for the admin, then re-raised for the worker log
        finish(state="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return finish(state="succeeded", progress=1.0, manifest=result)
