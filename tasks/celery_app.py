"""The one Celery app. Routing to the `cpu` and `gpu` queues is declared here, once.

Workers: `celery -A tasks worker -Q cpu` and `celery -A tasks worker -Q gpu --concurrency 1`.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_ready
from celery.worker.control import inspect_command
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pairrate.settings")

app = Celery("pairrate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=(Queue("cpu"), Queue("gpu")),
    task_default_queue="cpu",
    task_routes={"tasks.gpu.*": {"queue": "gpu"}},
    # A task is acknowledged only when done: a killed worker's task is redelivered.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
)
# Registered at import (force=True), not lazily at worker start: web processes load this app
# (pairrate/__init__.py) and queue tasks by name (annotation/jobs.py); in the in-process demo
# those names must resolve to tasks for `task_always_eager` to run them.
app.autodiscover_tasks(["tasks"], related_name="cpu", force=True)
app.autodiscover_tasks(["tasks"], related_name="gpu", force=True)


def guard_closed_redis_channels() -> None:
    """Work around a worker exit on a Redis restart (kombu 5.7.0, the newest release).

    Reported: a worker busy while Redis restarted logged "Restoring 1 unacknowledged
    message(s)" and exited with `Unrecoverable error: AttributeError("'NoneType' object has
    no attribute 'hostname'")`. That AttributeError comes from Channel._connparams, which
    rebuilds a Redis client from `transport.client`: kombu sets it to None when it closes the
    connection, and a channel of that connection can still be asked for a client (an ack or
    a restore of a message it delivered, once its pool was dropped). An AttributeError is not
    a connection error, so the consumer gives up and the worker exits. Raising redis's
    ConnectionError there instead makes it what it is, a lost connection: Celery logs it
    ("Couldn't ack") and carries on; the message was restored or went with the broker, and
    annotation.sweeper re-dispatches its work. Not reproduced here with a sleep task or a
    launch (prefork and solo pools, outages of 0.3-10 s); the test drives the failing call.
    """
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "pairrate_guard", False):
        return

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError(
                "broker connection closed (Redis restarted?): this channel cannot be used again"
            )
        return original(self, asynchronous)

    _connparams.pairrate_guard = True
    kombu_redis.Channel._connparams = _connparams


guard_closed_redis_channels()


@worker_ready.connect
def start_sweeper(**_):
    """Every worker sweeps for stalled work at start-up and then on a timer (no beat server)."""
    from annotation.sweeper import start_sweeper as start

    start()


@worker_init.connect
def keep_freed_memory(**_):
    """Workers run the numeric core: glibc keeps their freed memory for reuse from the
    start, before data is loaded (sampling.allocator; forked children inherit it)."""
    from sampling.allocator import keep_freed_memory as keep

    keep()


@worker_init.connect
def require_storage(**_):
    """A worker that cannot reach its object store says so and exits, instead of failing
    every task later (Celery logs and swallows a signal handler's Exception: hence SystemExit)."""
    import logging

    from django.core.exceptions import ImproperlyConfigured

    from annotation.storage.startup import require_storage as check

    try:
        check()
    except ImproperlyConfigured as exc:
        logging.getLogger("pairrate.storage").critical("%s", exc)
        raise SystemExit(f"pairrate worker: {exc}") from None


@inspect_command()
def storage_cache(state):
    """`celery -A tasks inspect storage_cache`: this machine's object cache (hits, misses,
    bytes fetched, evictions, size); the counters add up over the machine's processes."""
    from annotation.storage import get_store

    return get_store().cache_stats()
