"""Every background job is queued from here, by task name.

`annotation/` never imports `tasks/` (the worker side): it names a task and Celery routes it
(`tasks.gpu.*` to the `gpu` queue, the rest to `cpu`; tasks/celery_app.py). A signature by
name still honours `task_always_eager`, so the in-process demo runs jobs where they are sent.
"""

from __future__ import annotations


def send(name: str, *args) -> None:
    """Queue task `name` with positional `args` on pairrate's Celery app (pairrate/__init__.py)."""
    from pairrate import celery_app

    celery_app.signature(name, args=args).apply_async()
