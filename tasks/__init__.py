"""Celery app and tasks. Tasks are thin wrappers over annotation/ and sampling/."""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
