"""Exports of rated pairs: one row per request (API or command line), with its file.

The file lies in storage (the media root, or the bucket) under an unguessable folder; the
API serves it to admins only (streamed, or a presigned redirect). `sha256` is set only
once the file is complete and in place.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from .projects import Project


class ExportRun(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    projects = models.ManyToManyField(Project, related_name="exports")
    format = models.CharField(max_length=16)
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True, help_text="format options, e.g. include_partial")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    row_count = models.BigIntegerField(null=True, blank=True)
    file_path = models.CharField(max_length=500, blank=True, help_text="relative to MEDIA_ROOT")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by the running task; annotation.sweeper re-dispatches a stalled run.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export {self.pk} {self.format} ({self.state})"

    @property
    def absolute_path(self) -> Path | None:
        """A readable local copy of the file: the file itself on the local backend, this
        machine's cached copy on the object store (FileNotFoundError there when missing)."""
        from .. import storage

        return storage.local_path(self.file_path) if self.file_path else None
