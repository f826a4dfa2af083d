"""Annotators' assignments: the task payload, submit, undo, skip.

Views stay thin over annotation.assignment; refusals come back as
`{"code": ..., "detail": ...}` with the status the workflow chose.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import assignment as workflow
from ..media_urls import render_urls, signed_url
from ..models import Assignment, Label, TaskCandidate
from ..models.datasets import Modality
from ..models.rating import Flag


class WorkflowErrorsMixin:
    """Turn WorkflowError into a response with a machine-readable `code`."""

    def handle_exception(self, exc):
        if isinstance(exc, workflow.WorkflowError):
            return Response({"code": exc.code, "detail": exc.detail}, status=exc.status)
        return super().handle_exception(exc)


def media_payload(item) -> dict:
    out = {"modality": item.modality, "media_url": signed_url(item.media)}
    if item.modality == Modality.POINT_CLOUD:
        renders = render_urls(item.pk)
        if renders:
            out["renders"] = renders
    return out


def assignment_payload(assignment: Assignment) -> dict:
    """What an annotator sees: the same shape for gold and regular tasks."""
    task = assignment.task
    candidates = TaskCandidate.objects.filter(task_id=task.pk).select_related("item").order_by("slot")
    return {
        "id": assignment.pk,
        "project": assignment.project_id,
        "state": assignment.state,
        "lease_expires": assignment.leased_until.isoformat(),
        "instructions": assignment.project.instructions,
        "caption": {"text": task.caption.text, "source_modality": task.caption.source_modality},
        "paired_item": media_payload(task.paired_item) if task.paired_item_id else None,
        "candidates": [{"id": c.pk, "slot": c.slot, **media_payload(c.item)} for c in candidates],
        "labels": Label.values,
        "flags": Flag.values,
    }


def load_for_payload(assignment_id: int) -> Assignment:
    return (Assignment.objects.select_related("project", "task__caption", "task__paired_item")
            .get(pk=assignment_id))


class RatingInSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    label = serializers.ChoiceField(choices=Label.choices)


class SubmitSerializer(serializers.Serializer):
    """Documentation of the submit body; validation is annotation.assignment.parse_submission."""

    ratings = RatingInSerializer(many=True)
    flags = serializers.ListField(child=serializers.ChoiceField(choices=Flag.choices), required=False)
    seconds = serializers.FloatField(required=False, help_text="time spent on the task")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class AssignmentSerializer(serializers.ModelSerializer):
    ratings = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "project", "state", "leased_until", "submitted_at", "seconds", "flags", "ratings"]

    def get_ratings(self, assignment) -> list[dict]:
        return [{"candidate": c, "label": label}
                for c, label in sorted(workflow.stored_labels(assignment).items())]


ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 403, 404, 409)}


class AssignmentViewSet(WorkflowErrorsMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """An annotator's own assignments (admins may read any)."""

    serializer_class = AssignmentSerializer
    queryset = Assignment.objects.order_by("pk")  # narrowed per caller in get_queryset

    def get_queryset(self):
        qs = self.queryset.all()
        return qs if self.request.user.is_staff else qs.filter(annotator=self.request.user)

    def _result(self, assignment):
        return Response(AssignmentSerializer(assignment).data)

    @extend_schema(request=SubmitSerializer, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """One label per candidate. Idempotent: the same body again returns the stored result."""
        submission = workflow.parse_submission(request.data)
        return self._result(workflow.submit(_id(pk), request.user, submission))

    @extend_schema(request=None, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        """Reopen your last submission while its lease is live."""
        return self._result(workflow.undo(_id(pk), request.user))

    @extend_schema(request=None, responses={200: AssignmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        """Give the task back; you will not be offered it again."""
        return self._result(workflow.skip(_id(pk), request.user))


def _id(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise workflow.WorkflowError("not_found", "no such assignment", 404)
