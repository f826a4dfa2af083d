"""Retrieval groups: for every caption of a pool, its top-k items in each target modality.

A `GroupsBuild` is one request (API, command line or an import of the E-MM1 100M
layout); its `GroupsPart` rows are the units of work a worker takes: a `search` part
is one (caption chunk x item chunk) of one modality, a `merge` part combines the
search parts of one caption chunk. The database holds the state; results are
artifacts under `groups/<build id>/` in media storage (annotation.groups).
`ProjectGroups` makes a rating project take its candidates from a build.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .datasets import Dataset, EmbeddingSpace
from .projects import Project

# Column order of the E-MM1 100M layout; a build's `modalities` is a subset, in this order.
GROUP_MODALITIES = ("video", "audio", "image", "point_cloud")


class GroupsBuild(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        BUILT = "built"  # searched here
        IMPORTED = "imported"  # an E-MM1 100M layout or a list of pairs, read from files

    class Method(models.TextChoices):
        EXACT = "exact"
        IVF = "ivf"

    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BUILT)
    # Caption pool (as for projects): captions of these datasets with a vector in every space.
    caption_datasets = models.ManyToManyField(Dataset, related_name="+")
    caption_source_modalities = models.JSONField(default=list, blank=True)
    caption_source_datasets = models.JSONField(default=list, blank=True)
    pool_key = models.CharField(max_length=500, db_index=True, help_text="datasets + filters; one build at a time")
    # One space per target modality (any subset); `modalities` lists the targets in
    # GROUP_MODALITIES order (an imported build has modalities but no spaces).
    spaces = models.ManyToManyField(EmbeddingSpace, related_name="+", blank=True)
    modalities = models.JSONField(default=list)
    k = models.PositiveSmallIntegerField(default=16, validators=[MinValueValidator(1), MaxValueValidator(256)])
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.EXACT)
    nlist = models.PositiveIntegerField(null=True, blank=True, help_text="IVF lists per item chunk; blank = 2 sqrt(n)")
    nprobe = models.PositiveIntegerField(
        null=True, blank=True, help_text="IVF lists searched per caption; blank = nlist / 32, at least 16"
    )
    seed = models.BigIntegerField(default=0)
    # Memory bounds, copied from settings when the build is created.
    caption_chunk_rows = models.PositiveIntegerField()
    item_chunk_rows = models.PositiveIntegerField()

    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True)
    recall = models.JSONField(default=dict, blank=True, help_text="IVF: modality -> recall@k against exact")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    output_path = models.CharField(max_length=500, blank=True, help_text="folder relative to MEDIA_ROOT")
    files = models.JSONField(default=dict, blank=True, help_text="output file -> {bytes, sha256, rows}")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while any of its tasks runs (annotation.sweeper.beating); stale = re-dispatched.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"groups {self.pk} {self.name or self.pool_key} ({self.state})"

    @property
    def output_folder(self) -> Path | None:
        return Path(settings.MEDIA_ROOT) / self.output_path if self.output_path else None


class GroupsPart(models.Model):
    class Kind(models.TextChoices):
        SEARCH = "search"
        MERGE = "merge"

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"

    build = models.ForeignKey(GroupsBuild, on_delete=models.CASCADE, related_name="parts")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    modality = models.CharField(max_length=16, blank=True, help_text="blank for a merge")
    caption_chunk = models.PositiveIntegerField()
    item_chunk = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="the worker that finished it")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["build", "caption_chunk", "kind", "modality", "item_chunk"]
        constraints = [
            models.UniqueConstraint(
                fields=["build", "kind", "modality", "caption_chunk", "item_chunk"], name="groups_part_unique"
            )
        ]
        indexes = [models.Index(fields=["build", "kind", "state"], name="groups_part_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.modality} c{self.caption_chunk} i{self.item_chunk} ({self.state})"


class ProjectGroups(models.Model):
    """A rating project whose match stage reads its candidates from a groups build."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="groups_source")
    build = models.ForeignKey(GroupsBuild, on_delete=models.PROTECT, related_name="projects")

    def __str__(self) -> str:
        return f"{self.project} <- groups {self.build_id}"
