"""Recording admin actions in the audit log (annotation.models.AuditEntry).

Views call `record(request, "project.delete", project, ratings=12)` in the same transaction
as the action where they hold it, so an action that rolls back leaves no entry; actions that
commit on their own (pipeline launch, cancel, retry) are recorded once they have.
"""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from .models import AuditEntry


def record(request, action: str, target, **details) -> AuditEntry:
    """Store who (request.user) did `action` to `target` (a model instance), with `details`."""
    user = request.user if request.user.is_authenticated else None
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "",
        action=action,
        target_type=target._meta.model_name,
        target_id=target.pk,
        target_repr=str(target)[:200],
        details=details,
        address=(BaseThrottle().get_ident(request) or "")[:64],
    )
