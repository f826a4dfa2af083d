"""The audit log of admin actions: who did what to which object, when (read-only in the admin)."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One destructive or launching admin action through the API (annotation.audit.record)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, help_text="the username, kept if the user is deleted")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. project.delete, pipeline.launch")
    target_type = models.CharField(max_length=64)
    target_id = models.BigIntegerField(null=True)
    target_repr = models.CharField(max_length=200, blank=True, help_text="the target's name when it was acted on")
    details = models.JSONField(default=dict, blank=True)
    address = models.CharField(max_length=64, blank=True, help_text="client address")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target_type} {self.target_id}"
        )
