"""Media screening runs: one per import (or re-screen request), split into parts."""

from __future__ import annotations

from django.db import models

from .datasets import Dataset, ImportRun


class ScreeningRun(models.Model):
    """Probe every item of a dataset (annotation.screening); parts run on the `cpu` queue.

    `bounds` holds each part's [first item id, last item id], fixed when the run is
    planned, so a redelivered part screens the same items; `done_parts` maps a part's
    index to its counts, and the part that completes the set finishes the run.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="screenings")
    import_run = models.OneToOneField(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="screening"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    bounds = models.JSONField(default=list, blank=True)
    done_parts = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while any of its parts runs (annotation.sweeper.beating); stale = re-dispatched.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"screening {self.dataset_id} ({self.state})"
