"""A project's figures for its admins: progress, labels, agreement, annotators."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from ..rating import stats
from .permissions import IsAdmin
from .projects import ProjectScopedViewSet


class ProjectStatsViewSet(ProjectScopedViewSet):
    """projects/{id}/stats/."""

    permission_classes = [IsAdmin]

    @extend_schema(
        request=None, responses={200: OpenApiResponse(description="progress, labels, agreement, annotators")}
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Progress, labels per modality pair, agreement (raw, Fleiss, Krippendorff), per-annotator figures."""
        return Response(stats.project_stats(self.get_object()))
