"""Media screening of a dataset (admins only).

GET /api/datasets/{id}/screening/: items per status, the latest run and the failed items
with their reasons; POST the same path re-screens the dataset on the `cpu` queue.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Dataset, Item, ScreeningRun, ScreenStatus
from ..screening import runs
from .permissions import IsAdmin

FAILED_LISTED = 500


class ScreeningRunSerializer(serializers.ModelSerializer):
    parts = serializers.SerializerMethodField()
    parts_done = serializers.SerializerMethodField()

    class Meta:
        model = ScreeningRun
        fields = [
            "id",
            "state",
            "progress",
            "parts",
            "parts_done",
            "counts",
            "error",
            "import_run",
            "created_at",
            "finished_at",
        ]

    def get_parts(self, run) -> int:
        return len(run.bounds)

    def get_parts_done(self, run) -> int:
        return len(run.done_parts)


class FailedItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "external_id", "modality", "media", "screen_reason", "screened_at"]


class ScreeningSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="items per screen status")
    run = ScreeningRunSerializer(allow_null=True, help_text="the latest screening run")
    failed = FailedItemSerializer(many=True, help_text=f"failed items, first {FAILED_LISTED} by id")


class ScreeningQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=FAILED_LISTED, default=FAILED_LISTED)


def screening_payload(dataset: Dataset, limit: int = FAILED_LISTED) -> dict:
    failed = dataset.items.filter(screen_status=ScreenStatus.FAILED).order_by("id")[:limit]
    return {
        "dataset": dataset.id,
        "counts": runs.summary(dataset),
        "run": dataset.screenings.order_by("-created_at", "-id").first(),
        "failed": list(failed),
    }


class DatasetScreeningView(APIView):
    permission_classes = [IsAdmin]
    serializer_class = ScreeningSerializer

    @extend_schema(responses=ScreeningSerializer, parameters=[ScreeningQuerySerializer])
    def get(self, request, pk: int):
        dataset = get_object_or_404(Dataset, pk=pk)
        query = ScreeningQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(ScreeningSerializer(screening_payload(dataset, query.validated_data["limit"])).data)

    @extend_schema(request=None, responses={202: ScreeningSerializer})
    def post(self, request, pk: int):
        """Re-screen every item of the dataset (idempotent: the same files give the same results)."""
        dataset = get_object_or_404(Dataset, pk=pk)
        runs.start(dataset)
        return Response(ScreeningSerializer(screening_payload(dataset)).data, status=status.HTTP_202_ACCEPTED)
