"""The one Celery app. Routing to the `cpu` and `gpu` queues is declared here, once.

Workers: `celery -A tasks worker -Q cpu` and `celery -A tasks worker -Q gpu --concurrency 1`.
"""
from __future__ import annotations

import os

from celery import Celery
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
app.autodiscover_tasks(["tasks"], related_name="cpu")
app.autodiscover_tasks(["tasks"], related_name="gpu")
