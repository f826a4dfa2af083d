"""Embed runs: an admin embeds a dataset in a space with the space's encoder (docs/encoders.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from ..audit import record
from ..embedding import runs
from ..embedding.exceptions import EmbedError
from ..models import Dataset, EmbeddingSpace, EmbedRun
from .errors import ErrorSerializer, Refusal
from .permissions import IsAdmin


class EmbedRunSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    space = serializers.SlugRelatedField(slug_field="name", read_only=True)
    progress = serializers.FloatField(read_only=True)
    failures = serializers.SerializerMethodField(help_text="items skipped, with the reason (first 100)")

    class Meta:
        model = EmbedRun
        fields = [
            "id",
            "dataset",
            "space",
            "state",
            "progress",
            "parts_total",
            "parts_done",
            "counts",
            "errors",
            "failures",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_failures(self, run) -> list[dict]:
        return runs.failures(run)[:100]


class EmbedRequestSerializer(serializers.Serializer):
    dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
    space = serializers.SlugRelatedField(slug_field="name", queryset=EmbeddingSpace.objects.all())
    family = serializers.CharField(
        required=False, max_length=32, help_text="set the space's encoder first (with checkpoint)"
    )
    checkpoint = serializers.CharField(
        required=False, max_length=1000, help_text="checkpoint folder on the workers, under PAIRRATE_ENCODER_ROOTS"
    )

    def validate(self, data):
        if ("family" in data) != ("checkpoint" in data):
            raise serializers.ValidationError({"checkpoint": ["give family and checkpoint together"]})
        return data


class EmbedRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """POST starts a run (202); GET shows progress, counts and skipped items."""

    queryset = EmbedRun.objects.select_related("dataset", "space").order_by("-id")
    serializer_class = EmbedRunSerializer
    permission_classes = [IsAdmin]

    @extend_schema(
        request=EmbedRequestSerializer, responses={202: EmbedRunSerializer, 400: ErrorSerializer, 409: ErrorSerializer}
    )
    def create(self, request, *args, **kwargs):
        body = EmbedRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        space = data["space"]
        try:
            if "family" in data:
                runs.configure_space(space, data["family"], data["checkpoint"])
            run = runs.start(data["dataset"], space, request.user)
        except EmbedError as exc:
            raise Refusal("embed_refused", str(exc), exc.status, field=exc.field) from exc
        record(request, "embed.start", run, dataset=run.dataset.name, space=space.name, family=space.encoder_family)
        return Response(EmbedRunSerializer(run).data, status=202)
