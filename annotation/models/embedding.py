"""Embedding on the workers: a space's encoder and the runs that embed a dataset with it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EmbedRun(models.Model):
    """Embed a dataset's captions and items that lack vectors in one space, in parts.

    The plan (which ids each part embeds) is fixed when the run starts and kept as an
    artifact, so a redelivered part embeds exactly the same rows again."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    dataset = models.ForeignKey("annotation.Dataset", on_delete=models.CASCADE, related_name="embed_runs")
    space = models.ForeignKey("annotation.EmbeddingSpace", on_delete=models.CASCADE, related_name="embed_runs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    parts_total = models.PositiveIntegerField(default=0)
    parts_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while any of its parts runs (annotation.sweeper.beating); stale = re-dispatched.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    @property
    def progress(self) -> float:
        return self.parts_done / self.parts_total if self.parts_total else (1.0 if self.state == "succeeded" else 0.0)

    def __str__(self) -> str:
        return f"embed {self.dataset_id} in {self.space_id} ({self.state})"


class EmbedPart(models.Model):
    """Rows [first, first + rows) of one side of a run's plan; done once its shard is mapped."""

    class Side(models.TextChoices):
        CAPTIONS = "captions"
        ITEMS = "items"

    run = models.ForeignKey(EmbedRun, on_delete=models.CASCADE, related_name="parts")
    side = models.CharField(max_length=8, choices=Side.choices)
    index = models.PositiveIntegerField()
    first = models.PositiveIntegerField()
    rows = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    embedded = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text="[{id, external_id, reason}] of items skipped")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "side", "index"], name="embed_part_unique")]
        ordering = ["run", "side", "index"]
