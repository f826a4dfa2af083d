"""Who may do what: admins are staff users; annotators are everyone else."""
from rest_framework.permissions import BasePermission


class IsAdmin(BasePermission):
    message = "Only admins (staff users) may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
