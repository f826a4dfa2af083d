"""Launching projects and watching their pipeline (admins only).

POST /api/projects/{id}/launch/, /cancel/, /retry/ and GET /api/projects/{id}/pipeline/.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import audit
from ..models import PipelineStage, Project
from ..pipeline import runner
from .errors import ErrorSerializer
from .permissions import IsAdmin


class StageSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = PipelineStage
        fields = [
            "name",
            "order",
            "state",
            "progress",
            "counts",
            "error",
            "attempts",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "history",
        ]  # history: re-dispatched / dispatch failed / retried (annotation.sweeper)

    def get_counts(self, stage) -> dict:
        # Per-part bookkeeping of fanned-out stages is internal; show the totals.
        return {k: v for k, v in stage.counts.items() if k != "per_part"}


class PipelineSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    state = serializers.CharField()
    launched_at = serializers.DateTimeField(allow_null=True)
    tasks = serializers.IntegerField()
    stages = StageSerializer(many=True)


def pipeline_payload(project: Project) -> dict:
    return {
        "project": project.id,
        "state": project.state,
        "launched_at": project.launched_at,
        "tasks": project.tasks.count(),
        "stages": StageSerializer(project.stages.order_by("order"), many=True).data,
    }


class PipelineView(APIView):
    permission_classes = [IsAdmin]
    serializer_class = PipelineSerializer

    @extend_schema(responses=PipelineSerializer)
    def get(self, request, pk: int):
        return Response(pipeline_payload(get_object_or_404(Project, pk=pk)))


class _ActionView(APIView):
    """Runs one runner action, recorded in the audit log; LaunchError becomes 409 (state) or
    400 (invalid settings, with `fields`) in annotation.api.errors."""

    permission_classes = [IsAdmin]
    serializer_class = PipelineSerializer
    action_name = ""

    @extend_schema(
        request=None,
        responses={
            202: PipelineSerializer,
            400: OpenApiResponse(ErrorSerializer, description="settings that cannot work (`fields`)"),
            409: OpenApiResponse(ErrorSerializer, description="wrong state for this action"),
        },
    )
    def post(self, request, pk: int):
        project = get_object_or_404(Project, pk=pk)
        getattr(runner, self.action_name)(project.id)  # commits and queues the stages itself
        audit.record(request, f"pipeline.{self.action_name}", project)
        project.refresh_from_db()
        return Response(pipeline_payload(project), status=status.HTTP_202_ACCEPTED)


class LaunchView(_ActionView):
    action_name = "launch"


class CancelView(_ActionView):
    action_name = "cancel"


class RetryView(_ActionView):
    action_name = "retry"
