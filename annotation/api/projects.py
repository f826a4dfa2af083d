"""Projects: CRUD for admins, reading for their members, and the annotators' next task.

Annotators see only projects they are members of (others are 404 to them) and only their
own progress. A project's other resources have their own viewsets, admins only:
members.py, review.py (gold, contested, adjudicate), project_stats.py.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from .. import audit
from ..pipeline.validation import instance_fields, project_errors
from ..models import Assignment, Project, Rating
from ..rating import claim
from ..rating.exceptions import NotAMember
from .assignments import ERRORS, assignment_payload
from .errors import ErrorSerializer, Refusal, path_id
from .permissions import IsAdminOrReadOnly


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        exclude = ["members"]
        read_only_fields = ["state", "launched_at", "created_by", "created_at"]

    def validate(self, attrs):
        """Refuse settings the launch pipeline cannot honour, field by field."""
        fields = instance_fields(self.instance) if self.instance is not None else {}
        fields.update(attrs)
        errors = project_errors(fields)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class AnnotatorProjectSerializer(serializers.ModelSerializer):
    """What an annotator sees of a project: no configuration, their own progress."""

    my_progress = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "instructions",
            "state",
            "target_modality",
            "annotators_per_task",
            "lease_seconds",
            "my_progress",
        ]

    def get_my_progress(self, project) -> dict:
        user = self.context["request"].user
        member = project.memberships.filter(user=user).first()
        submitted = Assignment.objects.filter(project=project, annotator=user, state=Assignment.State.SUBMITTED).count()
        return {"submitted": submitted, "paused": bool(member and member.paused)}


# Admins and annotators read a project in two shapes; the schema is the same whoever asks.
PROJECT_VIEW = PolymorphicProxySerializer(
    component_name="ProjectView",
    resource_type_field_name=None,
    serializers=[ProjectSerializer, AnnotatorProjectSerializer],
)


class ProjectScopedViewSet(viewsets.GenericViewSet):
    """A project or one of its resources (members, review, stats) at projects/{id}/...: the
    object is the project, and annotators see only the projects they are members of (any
    other id is 404 to them)."""

    queryset = Project.objects.order_by("pk")

    def get_queryset(self):
        qs = super().get_queryset()
        user = self.request.user
        return qs if user.is_staff else qs.filter(memberships__user=user)


@extend_schema_view(list=extend_schema(responses=PROJECT_VIEW), retrieve=extend_schema(responses=PROJECT_VIEW))
class ProjectViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    ProjectScopedViewSet,
):
    # Members read their projects, admins create, change and delete them; annotators ask for
    # their next task here. (A comment, not a docstring: the schema would show a docstring
    # as the description of every operation that has none of its own.)
    permission_classes = [IsAdminOrReadOnly]

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ProjectSerializer
        if self.request is not None and not self.request.user.is_staff:
            return AnnotatorProjectSerializer
        return ProjectSerializer

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("confirm", str, description="the project's name; required when the project has ratings")
        ],
        responses={204: None, 409: OpenApiResponse(ErrorSerializer, description="`has_ratings`: confirm first")},
    )
    def destroy(self, request, *args, **kwargs):
        """Delete a project with its tasks and ratings. One with ratings needs
        `?confirm=<project name>` (else 409 `has_ratings`); recorded in the audit log."""
        project = self.get_object()
        with transaction.atomic():
            ratings = Rating.objects.filter(assignment__project=project).count()
            if ratings and request.query_params.get("confirm") != project.name:
                raise Refusal(
                    "has_ratings",
                    f"the project has {ratings} ratings; delete it with "
                    f"?confirm=<the project's name> to delete them too",
                    409,
                )
            audit.record(request, "project.delete", project, ratings=ratings, tasks=project.tasks.count())
            project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ---- annotating

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(description="the task payload"),
            204: OpenApiResponse(description="nothing left for you"),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="assignments/next", permission_classes=[IsAuthenticated])
    def next(self, request, pk=None):
        """Your live lease, or a new task held for you until `lease_expires`; 204 when none is left."""
        try:
            assignment = claim.next_assignment(path_id(pk, "project"), request.user)
        except NotAMember:
            project = self.get_object()  # 404 where the caller may not see the project
            if project.state != Project.State.READY:
                raise Refusal("project_not_ready", f"project is {project.state}, not ready", 409)
            raise
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(assignment_payload(assignment))
