"""Nothing stalls forever: heartbeats on running work, and a sweeper that re-dispatches
work whose task vanished.

The database holds the state of launches, imports and exports; the broker only carries
"run this now" messages. A message can vanish (Redis restarted without persistence) and a
worker can die (SIGKILL, out of memory) with its message unacknowledged for the broker's
visibility timeout (an hour). So:

- the task running a stage, part, import or export touches `heartbeat_at` every
  PAIRRATE_HEARTBEAT_INTERVAL seconds from a thread (`beating`), and a dispatch stamps it;
- every worker runs `sweep()` at start-up and every PAIRRATE_SWEEP_INTERVAL seconds from a
  daemon thread (`start_sweeper`, started by tasks/celery_app.py): whatever is pending or
  running with no heartbeat for PAIRRATE_STALL_TIMEOUT seconds is set back to pending and
  dispatched again, with a "re-dispatched" entry in the stage's history. Pending work is
  re-dispatched only while its queue is empty (else its message may just be waiting
  behind others). Row locks (`SKIP LOCKED`) keep two workers' sweeps from re-dispatching
  the same thing twice;
- a task that starts on work someone else is running with a fresh heartbeat (a duplicate
  message) leaves it alone (`is_stale`).

No extra server (no Celery beat) is needed: any running worker sweeps.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

logger = logging.getLogger(__name__)


def stall_timeout() -> float:
    return float(settings.PAIRRATE_STALL_TIMEOUT)


def is_stale(heartbeat_at: datetime | None, now: datetime | None = None) -> bool:
    """True when nothing has shown life for the stall timeout (or never did)."""
    if heartbeat_at is None:
        return True
    return (now or timezone.now()) - heartbeat_at > timedelta(seconds=stall_timeout())


def history_entry(event: str, detail: str = "") -> dict:
    entry = {"at": timezone.now().isoformat(timespec="seconds"), "event": event}
    if detail:
        entry["detail"] = detail[:500]
    return entry


def drill_pause(name: str) -> None:
    """PAIRRATE_FAULT_DRILL_PAUSE="curate=30,export=5": hold that work (heartbeating) before
    it computes, so fault drills and tests can kill a worker or restart a service inside
    it. Names: the stages, `<stage>_part`, `import`, `export`, `groups_search`,
    `screen_part`, `embed_part`. Unset in production."""
    for entry in os.environ.get("PAIRRATE_FAULT_DRILL_PAUSE", "").split(","):
        what, _, seconds = entry.partition("=")
        if what.strip() == name and seconds:
            time.sleep(float(seconds))


def close_broken_connection() -> None:
    """Drop this thread's database connection after an error so the next query opens a
    fresh one (a dead socket otherwise fails every later write). Inside an atomic block
    the caller's transaction owns the connection, so it is left alone."""
    if not connection.in_atomic_block:
        connection.close()


def write_with_retry(write, what: str, attempts: int | None = None) -> bool:
    """Run `write()` on a fresh connection, retrying while the database is unreachable
    (a restart takes seconds). False when it never got through: the row keeps its old
    state and a stale heartbeat, so the sweeper deals with it later."""
    from django.db import Error

    attempts = attempts or int(settings.PAIRRATE_STATE_WRITE_ATTEMPTS)
    delay = 0.5
    for attempt in range(attempts):
        close_broken_connection()
        try:
            write()
            return True
        except Error as exc:
            logger.warning(
                "could not record %s (attempt %d of %d): %s",
                what,
                attempt + 1,
                attempts,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    close_broken_connection()
    return False


@contextmanager
def beating(model, pk: int, extra=None):
    """Touch `model(pk).heartbeat_at` now and every PAIRRATE_HEARTBEAT_INTERVAL seconds
    until the block ends (with the fields `extra()` returns, e.g. progress)."""
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now())

    def touch() -> None:
        model.objects.filter(pk=pk).update(heartbeat_at=timezone.now(), **(extra() if extra else {}))

    with beating_with(touch, f"{model.__name__} {pk}"):
        yield


@contextmanager
def beating_with(touch, what: str):
    """Call `touch()` every PAIRRATE_HEARTBEAT_INTERVAL seconds until the block ends, from a
    thread with its own connection. A failed beat (database down) is logged once and
    retried at the next beat. SQLite (the single-writer demo) gets no thread."""
    if connection.vendor == "sqlite":
        yield
        return
    stop = threading.Event()
    interval = float(settings.PAIRRATE_HEARTBEAT_INTERVAL)

    def loop() -> None:
        from django.db import Error
        from django.db import connection as own

        failing = False
        try:
            while not stop.wait(interval):
                try:
                    touch()
                    failing = False
                except Error as exc:
                    if not failing:
                        logger.warning(
                            "heartbeat of %s failed: %s",
                            what,
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                        )
                    failing = True
                    own.close()
        finally:
            own.close()

    thread = threading.Thread(target=loop, name=f"heartbeat-{what.replace(' ', '-')}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


# ---- the sweep ------------------------------------------------------------------


def sweep() -> list[str]:
    """Re-dispatch stalled stages, parts, imports, exports, groups builds, screening and
    embed runs; returns what it did."""
    done: list[str] = []
    queue_idle = _QueueCheck()
    done += _sweep_stages(queue_idle)
    done += _sweep_runs(queue_idle)
    done += _sweep_fanouts(queue_idle)
    for line in done:
        logger.warning("sweeper: %s", line)
    return done


class _QueueCheck:
    """queue_idle("cpu"): no message waits in that queue (asked once per sweep). A pending
    stage or run whose queue still holds messages is not lost, only waiting its turn."""

    def __init__(self):
        self.known: dict[str, bool] = {}

    def __call__(self, queue: str) -> bool:
        if queue not in self.known:
            self.known[queue] = _waiting(queue) == 0
        return self.known[queue]


def _waiting(queue: str) -> int | None:
    from pairrate import celery_app as app

    try:
        with app.connection_for_write(connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
            try:
                return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
            except conn.channel_errors:  # no such queue (a broker that lost everything): empty
                return 0
    except Exception as exc:  # noqa: BLE001 - broker down: dispatching would fail anyway
        logger.info("sweeper could not read queue %s: %s", queue, exc)
        return None


def _sweep_stages(queue_idle) -> list[str]:
    from .models import PipelineStage, Project
    from .pipeline import runner

    State = PipelineStage.State
    done = []
    cutoff = timezone.now() - timedelta(seconds=stall_timeout())
    candidates = (
        PipelineStage.objects.filter(project__state=Project.State.LAUNCHING, state__in=[State.PENDING, State.RUNNING])
        .annotate(seen=Coalesce("heartbeat_at", "started_at", "project__launched_at"))
        .filter(Q(seen__lt=cutoff) | Q(seen__isnull=True))
        .values_list("pk", flat=True)
    )
    for stage_id in candidates:
        with transaction.atomic():
            stage = (
                PipelineStage.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("project")
                .filter(pk=stage_id)
                .first()
            )
            if stage is None or stage.project.state != Project.State.LAUNCHING:
                continue
            if stage.state not in (State.PENDING, State.RUNNING) or not is_stale(
                stage.heartbeat_at or stage.started_at or stage.project.launched_at
            ):
                continue
            earlier = stage.project.stages.filter(order__lt=stage.order).exclude(state=State.SUCCEEDED)
            if earlier.exists():
                continue  # not its turn: the earlier stage is the one to sweep
            if stage.state == State.PENDING and not queue_idle("cpu"):
                continue
            age = _age(stage.heartbeat_at or stage.started_at or stage.project.launched_at)
            missing = runner.missing_parts(stage)
            if missing is not None:
                detail = f"no heartbeat for {age}; parts {', '.join(str(p.index) for p in missing)}"
            else:
                detail = f"no heartbeat for {age} while {stage.state}"
            stage.history = [*stage.history, history_entry("re-dispatched", detail)]
            stage.heartbeat_at = timezone.now()
            fields = ["history", "heartbeat_at"]
            if missing is None:
                stage.state = State.PENDING  # run_stage takes a pending stage; a live duplicate skips
                fields.append("state")
            stage.save(update_fields=fields)
            project_id, name = stage.project_id, stage.name
            if missing is None:
                transaction.on_commit(lambda: runner.dispatch_stage(project_id, name, stamp=False))
            else:
                transaction.on_commit(lambda parts=missing: [runner.dispatch_part(project_id, p) for p in parts])
            done.append(f"project {project_id} stage {name}: re-dispatched ({detail})")
    return done


def _sweep_runs(queue_idle) -> list[str]:
    from .models import ExportRun, ImportRun

    done = []
    cutoff = timezone.now() - timedelta(seconds=stall_timeout())
    for model, task, label, started in (
        (ImportRun, "tasks.cpu.import_dataset", "import", "created_at"),
        (ExportRun, "tasks.cpu.export_ratings", "export", "started_at"),
    ):
        states = [model.State.PENDING, model.State.RUNNING]
        ids = (
            model.objects.filter(state__in=states)
            .annotate(seen=Coalesce("heartbeat_at", started, "created_at"))
            .filter(seen__lt=cutoff)
            .values_list("pk", flat=True)
        )
        for run_id in ids:
            with transaction.atomic():
                run = model.objects.select_for_update(skip_locked=True).filter(pk=run_id, state__in=states).first()
                if run is None or not is_stale(run.heartbeat_at or getattr(run, started) or run.created_at):
                    continue
                if run.state == model.State.PENDING and not queue_idle("cpu"):
                    continue
                age = _age(run.heartbeat_at or getattr(run, started) or run.created_at)
                model.objects.filter(pk=run.pk).update(state=model.State.PENDING, heartbeat_at=timezone.now())
                transaction.on_commit(lambda t=task, pk=run.pk: _send(t, pk))
                done.append(f"{label} {run.pk}: re-dispatched (no heartbeat for {age} while {run.state})")
    return done


def _sweep_fanouts(queue_idle) -> list[str]:
    """Groups builds, screening runs and embed runs whose tasks all stopped beating: their
    plan task is sent again, and it queues every part not yet done (parts are idempotent).
    Only while their queues are empty: a part waiting behind others is not lost."""
    from .models import EmbedRun, GroupsBuild, ScreeningRun

    done = []
    cutoff = timezone.now() - timedelta(seconds=stall_timeout())
    fanouts = (
        (GroupsBuild, "tasks.cpu.groups_plan", "groups build", ("cpu", "gpu")),
        (ScreeningRun, "tasks.cpu.screen_dataset", "screening", ("cpu",)),
        (EmbedRun, "tasks.gpu.embed_plan", "embed run", ("gpu",)),
    )
    for model, task, label, queues in fanouts:
        states = [model.State.PENDING, model.State.RUNNING]
        ids = (
            model.objects.filter(state__in=states)
            .annotate(seen=Coalesce("heartbeat_at", "created_at"))
            .filter(seen__lt=cutoff)
            .values_list("pk", flat=True)
        )
        for run_id in ids:
            if not all(queue_idle(q) for q in queues):
                break
            with transaction.atomic():
                run = model.objects.select_for_update(skip_locked=True).filter(pk=run_id, state__in=states).first()
                if run is None or not is_stale(run.heartbeat_at or run.created_at):
                    continue
                age = _age(run.heartbeat_at or run.created_at)
                model.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
                transaction.on_commit(lambda t=task, pk=run.pk: _send(t, pk))
                done.append(f"{label} {run.pk}: re-dispatched (no heartbeat for {age} while {run.state})")
    return done


def _send(task: str, pk: int) -> None:
    from .jobs import send

    try:
        send(task, pk)
    except Exception as exc:  # broker down: the run stays pending and the next sweep tries again
        logger.warning("sweeper could not dispatch %s(%s): %s", task, pk, exc)


def _age(then: datetime | None) -> str:
    if then is None:
        return "ever"
    return f"{(timezone.now() - then).total_seconds():.0f} s"


# ---- the timer ------------------------------------------------------------------

_started = threading.Lock()
_thread: threading.Thread | None = None


def start_sweeper() -> threading.Thread | None:
    """Sweep now and every PAIRRATE_SWEEP_INTERVAL seconds in a daemon thread (once per
    process). A sweep that fails (database down) is logged in one line and tried again."""
    global _thread
    interval = float(settings.PAIRRATE_SWEEP_INTERVAL)
    if interval <= 0:
        return None
    with _started:
        if _thread is not None and _thread.is_alive():
            return _thread

        def loop() -> None:
            from django.db import connection as own

            while True:
                try:
                    sweep()
                except Exception as exc:  # noqa: BLE001 - keep sweeping whatever happened
                    logger.warning("sweep failed: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
                    own.close()
                time.sleep(interval)

        _thread = threading.Thread(target=loop, name="pairrate-sweeper", daemon=True)
        _thread.start()
    return _thread
