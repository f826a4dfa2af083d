"""A project's members (admins only): list and add annotators, pause and unpause them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import audit
from ..models import ProjectMember
from .errors import Refusal
from .permissions import IsAdmin
from .projects import ProjectScopedViewSet


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    gold_accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ProjectMember
        fields = ["username", "paused", "paused_reason", "added_at", "served", "gold_answered", "gold_accuracy"]


class UsernamesSerializer(serializers.Serializer):
    usernames = serializers.ListField(child=serializers.CharField(), allow_empty=False)


class ProjectMembersViewSet(ProjectScopedViewSet):
    """projects/{id}/members/...; the list is short and whole (an array, not pages)."""

    permission_classes = [IsAdmin]

    def _members_response(self, project):
        members = project.memberships.select_related("user").order_by("user__username")
        return Response(MemberSerializer(members, many=True).data)

    def _users(self, request, project=None):
        body = UsernamesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        names = set(body.validated_data["usernames"])
        users = get_user_model().objects.filter(username__in=names)
        if project is not None:
            users = users.filter(memberships__project=project)
        missing = sorted(names - {u.username for u in users})
        if missing:
            code, what = ("not_a_member", "not members") if project else ("unknown_user", "unknown users")
            raise Refusal(code, f"{what}: {', '.join(missing)}")
        return list(users)

    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def members(self, request, pk=None):
        """GET the members; POST {"usernames": [...]} adds annotators (all or none)."""
        project = self.get_object()
        if request.method == "POST":
            users = self._users(request)
            with transaction.atomic():
                ProjectMember.objects.bulk_create(
                    [ProjectMember(project=project, user=u) for u in users], ignore_conflicts=True
                )
                audit.record(request, "members.add", project, usernames=sorted(u.username for u in users))
        return self._members_response(project)

    def _set_paused(self, request, paused: bool):
        project = self.get_object()
        users = self._users(request, project)
        with transaction.atomic():
            ProjectMember.objects.filter(project=project, user__in=users).update(paused=paused, paused_reason="")
            audit.record(
                request,
                "members.pause" if paused else "members.unpause",
                project,
                usernames=sorted(u.username for u in users),
            )
        return self._members_response(project)

    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="members/pause", pagination_class=None)
    def pause(self, request, pk=None):
        """Pause members: they get 403 `member_paused` from next."""
        return self._set_paused(request, True)

    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="members/unpause", pagination_class=None)
    def unpause(self, request, pk=None):
        """Unpause members (also lifts an automatic gold pause)."""
        return self._set_paused(request, False)
