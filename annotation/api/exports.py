"""Exports of rated pairs (admins only): start one, follow it, download the file.

`POST /api/projects/{id}/exports/` (more projects in `projects`) and `POST /api/exports/`
(projects in `projects`) start a run on the `cpu` queue; `GET /api/exports/{id}/` reports
it; `GET /api/exports/{id}/download/` serves the finished file.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import audit, storage
from ..export import FORMATS, create_run
from ..jobs import send
from ..models import ExportRun, Project
from .errors import ErrorSerializer, Refusal
from .permissions import IsAdmin


class ExportRunSerializer(serializers.ModelSerializer):
    projects = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportRun
        fields = [
            "id",
            "projects",
            "format",
            "filters",
            "options",
            "state",
            "progress",
            "row_count",
            "size_bytes",
            "sha256",
            "error",
            "attempts",
            "download_url",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_download_url(self, run) -> str | None:
        if run.state != ExportRun.State.SUCCEEDED:
            return None
        url = reverse("export-download", args=[run.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(FORMATS))
    filters = serializers.DictField(required=False, default=dict)
    options = serializers.DictField(required=False, default=dict)
    projects = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, default=list, max_length=1000
    )


def start_export(request, project_ids: list[int]) -> Response:
    """Validate everything, store the run, enqueue it; nothing is stored on a refusal
    (ExportRequestError becomes 400 `invalid_export` or 404 `unknown_project`)."""
    body = ExportRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    with transaction.atomic():
        run = create_run(project_ids + data["projects"], data["format"], data["filters"], data["options"], request.user)
        audit.record(
            request, "export.start", run, format=run.format, projects=sorted(set(project_ids + data["projects"]))
        )
    send("tasks.cpu.export_ratings", run.pk)
    run.refresh_from_db()
    return Response(ExportRunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ProjectExportView(APIView):
    """`/api/projects/{id}/exports/`: this project's exports; POST starts one."""

    permission_classes = [IsAdmin]
    serializer_class = ExportRunSerializer

    @extend_schema(responses=ExportRunSerializer(many=True))
    def get(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        runs = project.exports.order_by("-created_at").prefetch_related("projects")
        return Response(ExportRunSerializer(runs, many=True, context={"request": request}).data)

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportRunSerializer})
    def post(self, request, project_id: int):
        get_object_or_404(Project, pk=project_id)
        return start_export(request, [project_id])


class ExportViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ExportRun.objects.order_by("-created_at").prefetch_related("projects").select_related("created_by")
    serializer_class = ExportRunSerializer
    permission_classes = [IsAdmin]

    def get_serializer_class(self):
        return ExportRequestSerializer if self.action == "create" else ExportRunSerializer

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportRunSerializer})
    def create(self, request, *args, **kwargs):
        return start_export(request, [])

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="the export file"),
            409: OpenApiResponse(ErrorSerializer, description="`not_ready`: the run has not succeeded"),
        }
    )
    @action(detail=True, methods=["get"], url_name="download")
    def download(self, request, pk=None):
        """The finished file (header `X-Checksum-SHA256`): streamed, or on the object store a
        redirect to a presigned URL living as long as a signed media URL."""
        run = self.get_object()
        if run.state != ExportRun.State.SUCCEEDED or not run.file_path:
            raise Refusal("not_ready", f"export is {run.state}", 409)
        try:
            response = storage.file_response(run.file_path, PurePosixPath(run.file_path).name)
        except FileNotFoundError:
            raise Refusal("not_ready", "the file is gone from storage", 409) from None
        response["X-Checksum-SHA256"] = run.sha256
        return response

    @extend_schema(
        request=None,
        responses={202: ExportRunSerializer, 409: OpenApiResponse(ErrorSerializer, description="`not_failed`")},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Start a failed run again (same projects, format, filters)."""
        run = self.get_object()
        if run.state != ExportRun.State.FAILED:
            raise Refusal("not_failed", f"export is {run.state}", 409)
        with transaction.atomic():
            ExportRun.objects.filter(pk=run.pk).update(state=ExportRun.State.PENDING, error="")
            audit.record(request, "export.retry", run)
        send("tasks.cpu.export_ratings", run.pk)
        run.refresh_from_db()
        return Response(ExportRunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
