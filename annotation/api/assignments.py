"""Annotators' assignments: the task payload, submit, undo, skip.

Views stay thin over annotation.rating (claim, submit); its refusals (WorkflowError) come back as
`{"code": ..., "detail": ...}` with the status the workflow chose (annotation.api.errors).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..media_urls import derived_urls, signed_url
from ..models import Assignment, Label
from ..models.rating import Flag
from ..rating import sql, submit
from .errors import ErrorSerializer, path_id


def media_payload(item_id: int, modality: str, media: str) -> dict:
    return {"modality": modality, "media_url": signed_url(media), **derived_urls(item_id, modality)}


def assignment_payload(assignment: Assignment) -> dict:
    """What an annotator sees: the same shape for gold and regular tasks (one query; the
    project comes with the assignment from the claim)."""
    with sql.hot_cursor() as cursor:
        cursor.execute(sql.PAYLOAD, [assignment.task_id])
        rows = cursor.fetchall()
    text, source_modality, paired_id, paired_modality, paired_media = rows[0][:5]
    return {
        "id": assignment.pk,
        "project": assignment.project_id,
        "state": assignment.state,
        "lease_expires": assignment.leased_until.isoformat(),
        "instructions": assignment.project.instructions,
        "caption": {"text": text, "source_modality": source_modality},
        "paired_item": media_payload(paired_id, paired_modality, paired_media) if paired_id is not None else None,
        "candidates": [
            {"id": c, "slot": slot, **media_payload(item, modality, media)}
            for *_, c, slot, item, modality, media in rows
            if c is not None
        ],
        "labels": Label.values,
        "flags": Flag.values,
    }


def assignment_result(assignment: Assignment, labels: dict[int, str] | None = None) -> dict:
    """AssignmentSerializer's output built directly (submit is a hot path); `labels` are the
    stored ratings when the caller has them in hand."""
    if labels is None:
        labels = submit.stored_labels(assignment)
    return {
        "id": assignment.pk,
        "project": assignment.project_id,
        "state": assignment.state,
        "leased_until": _iso(assignment.leased_until),
        "submitted_at": _iso(assignment.submitted_at),
        "seconds": assignment.seconds,
        "flags": assignment.flags,
        "ratings": [{"candidate": c, "label": label} for c, label in sorted(labels.items())],
    }


def _iso(value) -> str | None:
    """DRF's DateTimeField format: ISO 8601 in the current time zone, UTC written as Z."""
    if value is None:
        return None
    value = timezone.localtime(value).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


class RatingInSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    label = serializers.ChoiceField(choices=Label.choices)


class SubmitSerializer(serializers.Serializer):
    """Documentation of the submit body; validation is annotation.rating.submit.parse_submission."""

    ratings = RatingInSerializer(many=True)
    flags = serializers.ListField(child=serializers.ChoiceField(choices=Flag.choices), required=False)
    seconds = serializers.FloatField(required=False, help_text="time spent on the task")


class AssignmentSerializer(serializers.ModelSerializer):
    ratings = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "project", "state", "leased_until", "submitted_at", "seconds", "flags", "ratings"]

    def get_ratings(self, assignment) -> list[dict]:
        return [{"candidate": c, "label": label} for c, label in sorted(submit.stored_labels(assignment).items())]


ERRORS = {409: OpenApiResponse(ErrorSerializer, description="refused in this state (see `code`)")}


class AssignmentViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """An annotator's own assignments (admins may read any)."""

    serializer_class = AssignmentSerializer
    queryset = Assignment.objects.order_by("pk")  # narrowed per caller in get_queryset

    def get_queryset(self):
        qs = self.queryset.all()
        return qs if self.request.user.is_staff else qs.filter(annotator=self.request.user)

    def _result(self, assignment, labels=None):
        return Response(assignment_result(assignment, labels))

    @extend_schema(request=SubmitSerializer, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """One label per candidate. Idempotent: the same body again returns the stored result."""
        submission = submit.parse_submission(request.data)
        return self._result(submit.submit(path_id(pk, "assignment"), request.user, submission), submission.labels)

    @extend_schema(request=None, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        """Reopen your last submission while its lease is live."""
        return self._result(submit.undo(path_id(pk, "assignment"), request.user))

    @extend_schema(request=None, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        """Give the task back; you will not be offered it again."""
        return self._result(submit.skip(path_id(pk, "assignment"), request.user))
