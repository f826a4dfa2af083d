"""A project's review (admins only): gold pairs, the contested queue, adjudication."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import audit
from ..media_urls import signed_url
from ..models import GoldPair, Label, PairResult
from ..rating import consensus, gold
from .assignments import ERRORS, media_payload
from .errors import Refusal, path_id
from .permissions import IsAdmin
from .projects import ProjectScopedViewSet


class GoldInSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    label = serializers.ChoiceField(choices=Label.choices)


class GoldRequestSerializer(serializers.Serializer):
    pairs = GoldInSerializer(many=True, allow_empty=False)


class GoldPairSerializer(serializers.ModelSerializer):
    task = serializers.IntegerField(source="candidate.task_id", read_only=True)

    class Meta:
        model = GoldPair
        fields = ["id", "candidate", "task", "label", "created_at"]


class PairResultSerializer(serializers.ModelSerializer):
    caption = serializers.CharField(source="task.caption.text", read_only=True)
    media_url = serializers.SerializerMethodField()
    media = serializers.SerializerMethodField()

    class Meta:
        model = PairResult
        fields = [
            "id",
            "task",
            "candidate",
            "state",
            "label",
            "votes",
            "caption_modality",
            "item_modality",
            "caption",
            "media_url",
            "media",
            "updated_at",
        ]

    def get_media_url(self, result) -> str:
        return signed_url(result.candidate.item.media)

    def get_media(self, result) -> dict:
        """What the rating screen shows for the item: the signed file plus the pipeline's
        renders, poster/preview or waveform, so an adjudicator sees what annotators saw."""
        item = result.candidate.item
        return media_payload(item.id, item.modality, item.media)


class AdjudicateSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=Label.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectReviewViewSet(ProjectScopedViewSet):
    """projects/{id}/gold/ and projects/{id}/contested/...: what admins settle by hand."""

    permission_classes = [IsAdmin]

    # The gold list is short and whole (an array, not pages): pagination_class=None.
    @extend_schema(request=GoldRequestSerializer, responses={200: GoldPairSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def gold(self, request, pk=None):
        """GET gold pairs; POST {"pairs": [{"candidate": id, "label": ...}]} marks pairs as gold."""
        project = self.get_object()
        if request.method == "POST":
            body = GoldRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            pairs = {p["candidate"]: p["label"] for p in body.validated_data["pairs"]}
            with transaction.atomic():
                gold.mark_gold(project, pairs, request.user)
                audit.record(request, "gold.mark", project, pairs=len(pairs))
        marked = GoldPair.objects.filter(project=project).select_related("candidate").order_by("pk")
        return Response(GoldPairSerializer(marked, many=True).data)

    @extend_schema(request=None, responses={200: PairResultSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def contested(self, request, pk=None):
        """The adjudication queue: contested pairs, oldest first (paginated)."""
        project = self.get_object()
        queue = (
            PairResult.objects.filter(project=project, state=PairResult.State.CONTESTED)
            .select_related("task__caption", "candidate__item")
            .order_by("updated_at", "pk")
        )
        page = self.paginate_queryset(queue)
        return self.get_paginated_response(PairResultSerializer(page, many=True).data)

    @extend_schema(request=AdjudicateSerializer, responses={200: PairResultSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path=r"contested/(?P<pair_id>[0-9]+)/adjudicate")
    def adjudicate(self, request, pk=None, pair_id=None):
        """Settle a contested pair with a label; the result becomes `adjudicated`."""
        project = self.get_object()
        body = AdjudicateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        pair_id = path_id(pair_id, "pair in this project")
        if not PairResult.objects.filter(pk=pair_id, project=project).exists():
            raise Refusal("not_found", "no such pair in this project", 404)
        with transaction.atomic():
            result = consensus.adjudicate(pair_id, project, request.user, **body.validated_data)
            audit.record(request, "pair.adjudicate", result, project=project.pk, label=body.validated_data["label"])
        result = PairResult.objects.select_related("task__caption", "candidate__item").get(pk=result.pk)
        return Response(PairResultSerializer(result).data)
