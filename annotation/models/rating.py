"""The rating workflow: leases, ratings, consensus results, gold pairs, adjudications.

Exports read `PairResult` (one row per rated (caption, candidate) pair) and `GoldPair`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .projects import Project, Task, TaskCandidate


class Label(models.TextChoices):
    """Ordinal: good > partial > bad."""

    GOOD = "good"
    PARTIAL = "partial"
    BAD = "bad"


LABEL_ORDER = [Label.BAD, Label.PARTIAL, Label.GOOD]  # ordinal rank 0 < 1 < 2


class Flag(models.TextChoices):
    CAPTION_UNCLEAR = "caption_unclear"
    MEDIA_BROKEN = "media_broken"


class Assignment(models.Model):
    """One annotator's lease on one task; at most one per (task, annotator), ever."""

    class State(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.LEASED)
    gold = models.BooleanField(default=False, help_text="the task held gold pairs when claimed")
    leased_at = models.DateTimeField()
    leased_until = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="time spent, as reported by the client")
    flags = models.JSONField(default=list, blank=True)
    gold_total = models.PositiveSmallIntegerField(default=0, help_text="gold pairs in this submission")
    gold_correct = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="assignment_unique_task_annotator"),
        ]
        indexes = [
            # "Does this annotator hold a lease?" (every next call)
            models.Index(fields=["annotator", "project"], name="assignment_live", condition=models.Q(state="leased")),
            # Expired leases another annotator can take over (claim query, no cron).
            models.Index(
                fields=["project", "leased_until"],
                name="assignment_takeover",
                condition=models.Q(state="leased", gold=False),
            ),
            models.Index(
                fields=["annotator", "project", "submitted_at"],
                name="assignment_submitted",
                condition=models.Q(state="submitted"),
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} / user {self.annotator_id} ({self.state})"


class Rating(models.Model):
    """One label for one (caption, candidate) pair within a submitted assignment."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="ratings")
    candidate = models.ForeignKey(TaskCandidate, on_delete=models.CASCADE, related_name="ratings")
    label = models.CharField(max_length=8, choices=Label.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "candidate"], name="rating_unique_candidate"),
        ]


class PairResult(models.Model):
    """The consensus for one (caption, candidate) pair; updated in the submit transaction."""

    class State(models.TextChoices):
        SINGLE = "single", "one annotator per task"
        AGREED = "agreed"
        CONTESTED = "contested"
        ADJUDICATED = "adjudicated"
        EXCLUDED = "excluded"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pair_results")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="pair_results")
    candidate = models.OneToOneField(TaskCandidate, on_delete=models.CASCADE, related_name="result")
    state = models.CharField(max_length=12, choices=State.choices)
    label = models.CharField(
        max_length=8, choices=Label.choices, blank=True, help_text="blank while contested or when excluded"
    )
    votes = models.JSONField(default=dict, help_text="label -> number of annotators")
    caption_modality = models.CharField(max_length=16, blank=True)
    item_modality = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "state"], name="pairresult_state")]


class GoldPair(models.Model):
    """A pair with a known label, set by an admin; its task is mixed in as a gold task."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold_pairs")
    candidate = models.OneToOneField(TaskCandidate, on_delete=models.CASCADE, related_name="gold")
    label = models.CharField(max_length=8, choices=Label.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class Adjudication(models.Model):
    """An admin's decision on a contested pair (audit trail; PairResult holds the outcome)."""

    result = models.ForeignKey(PairResult, on_delete=models.CASCADE, related_name="adjudications")
    admin = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    label = models.CharField(max_length=8, choices=Label.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
