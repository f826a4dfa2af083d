"""Datasets, embedding spaces and imports (admins only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from ..importing import uploads
from ..jobs import send
from ..importing.runs import UploadError, allowed_source
from ..models import Dataset, EmbeddingSpace, ImportRun
from .errors import ErrorSerializer
from .permissions import IsAdmin


class DatasetSerializer(serializers.ModelSerializer):
    items = serializers.SerializerMethodField()
    captions = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "created_at", "updated_at", "items", "captions"]

    def get_items(self, dataset) -> dict[str, int]:
        from django.db.models import Count

        rows = dataset.items.values("modality").annotate(n=Count("id")).order_by("modality")
        return {row["modality"]: row["n"] for row in rows}

    def get_captions(self, dataset) -> int:
        return dataset.captions.count()


class EmbeddingSpaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmbeddingSpace
        fields = ["id", "name", "model_name", "dim", "target_modality", "created_at"]


class ImportRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRun
        fields = ["id", "dataset_name", "source", "state", "progress", "counts", "errors", "created_at", "finished_at"]
        read_only_fields = fields


class ImportRequestSerializer(serializers.Serializer):
    path = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="bundle folder (or .zip/.tar/.tar.gz) on the server, under PAIRRATE_IMPORT_ROOTS",
    )
    bundle = serializers.FileField(
        required=False, help_text=".zip, .tar or .tar.gz bundle upload (at most PAIRRATE_MAX_UPLOAD_BYTES)"
    )
    dataset = serializers.SlugField(required=False, max_length=100)

    def validate(self, attrs):
        if bool(attrs.get("path")) == bool(attrs.get("bundle")):
            raise serializers.ValidationError("give exactly one of 'path' or 'bundle'")
        return attrs


class DatasetViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Dataset.objects.order_by("name")
    serializer_class = DatasetSerializer
    permission_classes = [IsAdmin]


class EmbeddingSpaceViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = EmbeddingSpace.objects.order_by("name")
    serializer_class = EmbeddingSpaceSerializer
    permission_classes = [IsAdmin]


class ImportRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """POST a server `path` or a `bundle` upload; the import (unpacking included) runs on the
    `cpu` queue. An upload is refused by its Content-Length before its body is read (413)."""

    queryset = ImportRun.objects.order_by("-created_at")
    serializer_class = ImportRunSerializer
    permission_classes = [IsAdmin]
    upload_handler = None

    def get_serializer_class(self):
        return ImportRequestSerializer if self.action == "create" else ImportRunSerializer

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":  # before authentication or anything else reads the body
            self.upload_handler = uploads.install(request._request)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if self.upload_handler is not None:  # refused after (part of) the upload was written:
            self.upload_handler.discard()  # nothing is left on disk (permission, validation, 413)
        return super().handle_exception(exc)

    @extend_schema(
        request=ImportRequestSerializer,
        responses={202: ImportRunSerializer, 400: ErrorSerializer, 413: ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        request_serializer = ImportRequestSerializer(data=request.data)
        request_serializer.is_valid(raise_exception=True)
        data = request_serializer.validated_data
        if data.get("bundle"):
            source = self.upload_handler.publish(data["bundle"])
        else:
            try:
                source = allowed_source(data["path"])
            except UploadError as exc:
                raise serializers.ValidationError({"path": [str(exc)]})
        run = ImportRun.objects.create(
            dataset_name=data.get("dataset", ""),
            source=str(source),
            upload=bool(data.get("bundle")),
            created_by=request.user,
        )
        send("tasks.cpu.import_dataset", run.id)
        run.refresh_from_db()
        return Response(ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
