"""The Django project. Loading the Celery app here makes it the current app of every Django
process, so `annotation.jobs` can queue tasks by name without importing `tasks/`."""

from tasks.celery_app import app as celery_app

__all__ = ["celery_app"]
