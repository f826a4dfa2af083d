"""Imported data: datasets, items of five modalities, captions, embedding spaces.

Vectors never live in table rows: a space's vectors sit in `.npy` shards in storage
(memory-mapped when read, from the storage cache on an object store) and the tables
below only say which shard row belongs to which caption or item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import models


class Modality(models.TextChoices):
    TEXT = "text", "text"
    IMAGE = "image", "image"
    VIDEO = "video", "video"
    AUDIO = "audio", "audio"
    POINT_CLOUD = "point_cloud", "point cloud"


MEDIA_MODALITIES = [m for m in Modality.values if m != Modality.TEXT]


class Dataset(models.Model):
    """One imported collection (a bundle or an E-MM1 release)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class ScreenStatus(models.TextChoices):
    """Result of probing an item's media file (annotation.screening)."""

    PENDING = "pending"  # not screened yet
    OK = "ok"
    FAILED = "failed"  # screen_reason says why; left out of matching by default
    SKIPPED = "skipped"  # remote media (a URL): not probed


class Item(models.Model):
    """A piece of media a caption can be paired with."""

    # No separate index: the unique (dataset, external_id) index serves dataset lookups.
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items", db_index=False)
    modality = models.CharField(max_length=16, choices=[(m, m) for m in MEDIA_MODALITIES])
    external_id = models.CharField(max_length=200)
    # A path relative to MEDIA_ROOT (opened only through media_paths.local_media_path), or
    # a URL with an allowed scheme (media_paths.is_remote_url).
    media = models.CharField(max_length=1000, blank=True)
    source_dataset = models.CharField(max_length=200, blank=True)
    license = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Media screening (db defaults: the importer's COPY/INSERT does not name these columns).
    screen_status = models.CharField(
        max_length=8, choices=ScreenStatus.choices, default=ScreenStatus.PENDING, db_default=ScreenStatus.PENDING
    )
    screen_reason = models.CharField(max_length=300, blank=True, default="", db_default="")
    screened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "external_id"], name="item_unique_external_id")]
        indexes = [
            models.Index(fields=["dataset", "modality"]),
            models.Index(fields=["dataset", "screen_status"], name="item_screen_status"),
        ]

    def __str__(self) -> str:
        return f"{self.modality}:{self.external_id}"

    @property
    def media_is_url(self) -> bool:
        from ..media_paths import is_remote_url

        return is_remote_url(self.media)


class Caption(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="captions", db_index=False)
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    # Modality of the dataset the caption came from (an audio caption describes a sound);
    # blank when the source does not say.
    source_modality = models.CharField(max_length=16, choices=Modality.choices, blank=True)
    paired_item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="paired_captions"
    )
    source_dataset = models.CharField(max_length=200, blank=True)
    license = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "external_id"], name="caption_unique_external_id")]
        indexes = [models.Index(fields=["dataset", "source_modality"])]

    def __str__(self) -> str:
        return self.text[:80]


class EmbeddingSpace(models.Model):
    """Vectors of one bimodal model: captions and items of one target modality."""

    name = models.SlugField(max_length=100, unique=True)
    model_name = models.CharField(max_length=200)
    dim = models.PositiveIntegerField()
    target_modality = models.CharField(max_length=16, choices=[(m, m) for m in MEDIA_MODALITIES])
    created_at = models.DateTimeField(auto_now_add=True)
    # An encoder that computes this space's vectors on the workers (sampling/encoders), or
    # blank for spaces whose vectors are only imported. The fingerprint and preprocessing
    # are recorded at the first embed; a later embed with other bytes is refused.
    encoder_family = models.CharField(max_length=32, blank=True)
    encoder_path = models.CharField(max_length=1000, blank=True, help_text="checkpoint folder on the workers")
    encoder_fingerprint = models.CharField(max_length=64, blank=True)
    encoder_info = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.model_name}, {self.dim}-d, text-{self.target_modality})"


class VectorShard(models.Model):
    """One `.npy` file of unit-length float32 rows, written once by one import."""

    class Side(models.TextChoices):
        CAPTIONS = "captions"
        ITEMS = "items"

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="shards")
    side = models.CharField(max_length=8, choices=Side.choices)
    path = models.CharField(max_length=500, help_text="relative to MEDIA_ROOT")  # a storage name
    rows = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.path

    @property
    def absolute_path(self) -> Path:
        """A local file of the shard: itself on the local backend, the machine's cached copy
        of the object otherwise (annotation.storage)."""
        from .. import storage

        return storage.local_path(self.path)

    def load(self) -> np.ndarray:
        """Memory-mapped (from the storage cache on an object store): a shard of millions of
        rows costs no RAM until read."""
        return np.load(self.absolute_path, mmap_mode="r")


class ItemVector(models.Model):
    """Item `item` has row `row` of `shard` in `space` (one vector per item per space)."""

    # A derived lookup table written only by the importer, from a join against rows
    # that exist: no database FK constraints (their per-row checks dominated bulk
    # loads); Django's ORM still cascades deletes. space and shard lookups use the
    # composite indexes below, not single-column ones.
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="vectors", db_constraint=False)
    shard = models.ForeignKey(VectorShard, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    row = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "item"], name="item_vector_unique"),
        ]
        indexes = [models.Index(fields=["shard", "row"])]


class CaptionVector(models.Model):
    # Like ItemVector: importer-written, no database FK constraints.
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    caption = models.ForeignKey(Caption, on_delete=models.CASCADE, related_name="vectors", db_constraint=False)
    shard = models.ForeignKey(VectorShard, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    row = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "caption"], name="caption_vector_unique"),
        ]
        indexes = [models.Index(fields=["shard", "row"])]


class ImportRun(models.Model):
    """One import request (API or command line): its state, progress and errors."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    dataset_name = models.CharField(max_length=100)
    source = models.CharField(max_length=1000, help_text="bundle path on the server")
    upload = models.BooleanField(default=False, help_text="source is an uploaded archive, removed when the run ends")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by the running task every few seconds; annotation.sweeper re-dispatches a run
    # whose heartbeat (or, while pending, creation) is older than PAIRRATE_STALL_TIMEOUT.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.dataset_name} ({self.state})"
