"""Caption screening: labels people give for calibration, and what the filter dropped."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from sampling.nsfw import CATEGORIES

from .datasets import Caption
from .projects import Project

LABEL_CHOICES = [("clean", "clean")] + [(c, c) for c in CATEGORIES]


class CaptionSafetyLabel(models.Model):
    """A person's judgement of one caption: clean, or explicit in one category. The
    filter's precision/recall and suggested thresholds are computed on these
    (`manage.py nsfw_calibrate`, or the admin action)."""

    caption = models.OneToOneField(Caption, on_delete=models.CASCADE, related_name="safety_label")
    label = models.CharField(max_length=20, choices=LABEL_CHOICES)
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labelled_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["label"], name="safety_label_label")]

    def __str__(self) -> str:
        return f"{self.caption_id}: {self.label}"


class FilteredCaption(models.Model):
    """A caption the launch's filter stage kept away from annotators, and why."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="filtered_captions")
    caption = models.ForeignKey(Caption, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=300, help_text="thresholds exceeded, e.g. 'sexual 0.92 > 0.5 (naked)'")
    scores = models.JSONField(default=dict, help_text="category (and backend label) -> score")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "caption"], name="filtered_caption_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.caption_id}: {self.reason}"
