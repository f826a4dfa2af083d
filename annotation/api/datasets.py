"""Datasets, embedding spaces and imports (admins only)."""
from __future__ import annotations

from django.conf import settings
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ..importing.runs import UploadError, allowed_source, unpack_upload
from ..models import Dataset, EmbeddingSpace, ImportRun
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
        fields = ["id", "dataset_name", "source", "state", "progress", "counts", "errors",
                  "created_at", "finished_at"]
        read_only_fields = fields


class ImportRequestSerializer(serializers.Serializer):
    path = serializers.CharField(required=False, help_text="bundle folder on the server")
    bundle = serializers.FileField(required=False, help_text=".zip or .tar.gz bundle upload")
    dataset = serializers.SlugField(required=False, max_length=100)

    def validate(self, attrs):
        if bool(attrs.get("path")) == bool(attrs.get("bundle")):
            raise serializers.ValidationError("give exactly one of 'path' or 'bundle'")
        upload = attrs.get("bundle")
        if upload is not None and upload.size > settings.PAIRRATE_MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(
                {"bundle": f"upload of {upload.size} bytes exceeds the limit of "
                           f"{settings.PAIRRATE_MAX_UPLOAD_BYTES} bytes"})
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
    """POST a server `path` or a `bundle` upload; the import runs on the `cpu` queue."""

    queryset = ImportRun.objects.order_by("-created_at")
    serializer_class = ImportRunSerializer
    permission_classes = [IsAdmin]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_serializer_class(self):
        return ImportRequestSerializer if self.action == "create" else ImportRunSerializer

    def create(self, request, *args, **kwargs):
        request_serializer = ImportRequestSerializer(data=request.data)
        request_serializer.is_valid(raise_exception=True)
        data = request_serializer.validated_data
        try:
            source = unpack_upload(data["bundle"]) if data.get("bundle") else allowed_source(data["path"])
        except UploadError as exc:
            raise serializers.ValidationError({"bundle" if data.get("bundle") else "path": [str(exc)]})
        run = ImportRun.objects.create(dataset_name=data.get("dataset", ""), source=str(source),
                                       created_by=request.user)
        from tasks.cpu import import_dataset

        import_dataset.delay(run.id)
        run.refresh_from_db()
        return Response(ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
