"""Rating projects, their pipeline stages, and the tasks the pipeline creates.

A task is one caption with `candidates_per_task` candidates of the project's target
modality; annotators rate each (caption, candidate) pair.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .datasets import MEDIA_MODALITIES, Caption, Dataset, EmbeddingSpace, Item


def default_curation() -> dict:
    """Hierarchical k-means settings (sampling.curation); the pipeline scales clusters to the pool."""
    return {"clusters": [], "resampling_steps": 2, "sample_size": 10, "iterations": 10, "pick": "random"}


class Project(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"
        LAUNCHING = "launching"
        READY = "ready"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class ConsensusRule(models.TextChoices):
        UNANIMOUS = "unanimous"
        MAJORITY = "majority"

    class ContestedRoute(models.TextChoices):
        ADJUDICATE = "adjudicate", "admin adjudication queue"
        EXTRA_ANNOTATORS = "extra_annotators", "extra annotators until the rule holds"
        EXCLUDE = "exclude", "excluded from exports"

    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="created_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    launched_at = models.DateTimeField(null=True, blank=True)

    # Caption pool
    caption_datasets = models.ManyToManyField(Dataset, related_name="+")
    caption_source_modalities = models.JSONField(
        default=list, blank=True, help_text="source modalities to draw captions from; empty = all"
    )
    caption_source_datasets = models.JSONField(
        default=list, blank=True, help_text="source dataset names to draw from; empty = all"
    )

    # Targets and curation
    target_modality = models.CharField(max_length=16, choices=[(m, m) for m in MEDIA_MODALITIES])
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.PROTECT, related_name="projects")
    sample_size = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    curation = models.JSONField(default=default_curation, blank=True)
    nsfw_backend = models.CharField(
        max_length=16,
        default="auto",
        help_text="auto (detoxify when configured, else lexicon), lexicon, detoxify, profanity, none",
    )
    nsfw_thresholds = models.JSONField(default=dict, blank=True, help_text="label -> max score kept")
    k = models.PositiveSmallIntegerField(default=16, validators=[MinValueValidator(1), MaxValueValidator(256)])
    candidates_per_task = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    item_cap = models.PositiveIntegerField(
        help_text="max tasks one item may appear in (heavy hitters)", validators=[MinValueValidator(1)]
    )
    include_failed_media = models.BooleanField(
        default=False, db_default=False, help_text="match items whose media failed screening too (left out by default)"
    )
    audit_share = models.FloatField(
        default=0.0,
        db_default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="share of tasks whose candidates are drawn uniformly from the caption's top-k "
        "(not de-duplicated), so per-rank precision estimates are unbiased (docs/statistics.md)",
    )

    # Rating
    annotators_per_task = models.PositiveSmallIntegerField(default=1, choices=[(1, "1"), (3, "3 (consensus)")])
    consensus_rule = models.CharField(max_length=16, choices=ConsensusRule.choices, default=ConsensusRule.MAJORITY)
    contested_route = models.CharField(max_length=20, choices=ContestedRoute.choices, default=ContestedRoute.ADJUDICATE)
    max_extra_annotators = models.PositiveSmallIntegerField(default=2)
    lease_seconds = models.PositiveIntegerField(default=600, validators=[MinValueValidator(10)])
    gold_rate = models.FloatField(default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)])
    gold_pause_threshold = models.FloatField(
        null=True, blank=True, help_text="pause annotators whose gold accuracy falls below this"
    )
    seed = models.BigIntegerField(default=0)
    gold_min_answers = models.PositiveSmallIntegerField(
        default=5, db_default=5, help_text="gold answers an annotator gives before auto-pause may apply"
    )

    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ProjectMember", related_name="rating_projects")

    def __str__(self) -> str:
        return self.name


class ProjectMember(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    paused = models.BooleanField(default=False)
    added_at = models.DateTimeField(auto_now_add=True)
    # Kept in the claim/submit transactions (annotation.rating.claim) so next-task never counts rows.
    paused_reason = models.CharField(
        max_length=16,
        blank=True,
        default="",
        db_default="",
        help_text="'gold' when paused automatically for low gold accuracy",
    )
    served = models.PositiveIntegerField(default=0, db_default=0, help_text="assignments handed out")
    gold_served = models.PositiveIntegerField(default=0, db_default=0)
    gold_answered = models.PositiveIntegerField(default=0, db_default=0, help_text="gold pairs rated")
    gold_correct = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="member_unique")]

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


class PipelineStage(models.Model):
    """One stage of a project's launch pipeline: state, progress, counts, timing, error."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=32)
    order = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Fault recovery (annotation.sweeper): the running task (or the dispatch) touches
    # heartbeat_at; history lists events for the admin ("re-dispatched", "dispatch failed").
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["project", "order"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="stage_unique")]


class Task(models.Model):
    """One caption and its chosen candidates, to be rated by `annotators_per_task` people."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    caption = models.ForeignKey(Caption, on_delete=models.PROTECT, related_name="tasks")
    # Shown for context (the item the caption originally described), as in E-MM1.
    paired_item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveIntegerField(help_text="order of creation; stable for a given seed")
    nsfw_scores = models.JSONField(default=dict, blank=True)
    # Rating workflow (annotation.rating.claim). NULL open_slots means "untouched": the claim
    # reads it as annotators_per_task, so the pipeline can bulk-create tasks without it.
    open_slots = models.SmallIntegerField(
        null=True, blank=True, help_text="slots not held by a live lease or a submission"
    )
    extra_slots = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="slots reopened for contested pairs"
    )
    rating_count = models.PositiveSmallIntegerField(default=0, db_default=0, help_text="submitted assignments")
    is_gold = models.BooleanField(
        default=False, db_default=False, help_text="holds gold pairs; served to everyone at gold_rate"
    )
    is_audit = models.BooleanField(
        default=False, db_default=False, help_text="candidates drawn uniformly from the top-k (Project.audit_share)"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "caption"], name="task_unique_caption"),
            models.UniqueConstraint(fields=["project", "position"], name="task_unique_position"),
        ]
        indexes = [
            # The claim query walks this index in order: partly taken tasks first, then fresh ones.
            models.Index(
                models.F("project"),
                models.F("open_slots").asc(nulls_last=True),
                models.F("position"),
                name="task_claim",
                condition=models.Q(open_slots__gt=0) | models.Q(open_slots__isnull=True),
            ),
            models.Index(fields=["project", "position"], name="task_gold", condition=models.Q(is_gold=True)),
        ]


class TaskCandidate(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="candidates")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    slot = models.PositiveSmallIntegerField(help_text="0-based position shown to annotators")
    retrieval_rank = models.PositiveSmallIntegerField(help_text="0-based rank among the caption's top-k")
    similarity = models.FloatField()

    class Meta:
        ordering = ["task", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["task", "item"], name="candidate_unique_item"),
            models.UniqueConstraint(fields=["task", "slot"], name="candidate_unique_slot"),
        ]
