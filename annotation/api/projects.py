"""Projects: CRUD for admins, membership, next task, gold, contested queue, stats.

Annotators see only projects they are members of (others are 404 to them) and only
their own progress; everything else here is for admins.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from .. import audit
from ..media_urls import signed_url
from ..pipeline.validation import instance_fields, project_errors
from ..models import Assignment, GoldPair, Label, PairResult, Project, ProjectMember, Rating
from ..rating import claim, consensus, gold, stats
from ..rating.exceptions import NotAMember
from .assignments import ERRORS, assignment_payload, media_payload
from .errors import ErrorSerializer, Refusal, path_id
from .permissions import IsAdmin


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        exclude = ["members"]
        read_only_fields = ["state", "launched_at", "created_by", "created_at"]

    def validate(self, attrs):
        """Refuse settings the launch pipeline cannot honour, field by field."""
        fields = instance_fields(self.instance) if self.instance is not None else {}
        fields.update(attrs)
        errors = project_errors(fields)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class AnnotatorProjectSerializer(serializers.ModelSerializer):
    """What an annotator sees of a project: no configuration, their own progress."""

    my_progress = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "instructions", "state", "target_modality", "annotators_per_task",
                  "lease_seconds", "my_progress"]

    def get_my_progress(self, project) -> dict:
        user = self.context["request"].user
        member = project.memberships.filter(user=user).first()
        submitted = Assignment.objects.filter(project=project, annotator=user,
                                              state=Assignment.State.SUBMITTED).count()
        return {"submitted": submitted, "paused": bool(member and member.paused)}


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    gold_accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ProjectMember
        fields = ["username", "paused", "paused_reason", "added_at", "served", "gold_answered", "gold_accuracy"]


class UsernamesSerializer(serializers.Serializer):
    usernames = serializers.ListField(child=serializers.CharField(), allow_empty=False)


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
        fields = ["id", "task", "candidate", "state", "label", "votes", "caption_modality", "item_modality",
                  "caption", "media_url", "media", "updated_at"]

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


ADMIN_ACTIONS = {"create", "update", "partial_update", "destroy", "members", "pause", "unpause", "gold",
                 "contested", "adjudicate", "stats"}


# Admins and annotators read a project in two shapes; the schema is the same whoever asks.
PROJECT_VIEW = PolymorphicProxySerializer(component_name="ProjectView", resource_type_field_name=None,
                                          serializers=[ProjectSerializer, AnnotatorProjectSerializer])


@extend_schema_view(list=extend_schema(responses=PROJECT_VIEW), retrieve=extend_schema(responses=PROJECT_VIEW))
class ProjectViewSet(viewsets.ModelViewSet):
    queryset = Project.objects.order_by("pk")

    def get_permissions(self):
        return [IsAdmin()] if self.action in ADMIN_ACTIONS else [IsAuthenticated()]

    def get_queryset(self):
        qs = super().get_queryset()
        user = self.request.user
        return qs if user.is_staff else qs.filter(memberships__user=user)

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ProjectSerializer
        if self.request is not None and not self.request.user.is_staff:
            return AnnotatorProjectSerializer
        return ProjectSerializer

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(parameters=[OpenApiParameter(
        "confirm", str, description="the project's name; required when the project has ratings")],
        responses={204: None, 409: OpenApiResponse(ErrorSerializer, description="`has_ratings`: confirm first")})
    def destroy(self, request, *args, **kwargs):
        """Delete a project with its tasks and ratings. One with ratings needs
        `?confirm=<project name>` (else 409 `has_ratings`); recorded in the audit log."""
        project = self.get_object()
        with transaction.atomic():
            ratings = Rating.objects.filter(assignment__project=project).count()
            if ratings and request.query_params.get("confirm") != project.name:
                raise Refusal("has_ratings", f"the project has {ratings} ratings; delete it with "
                                             f"?confirm=<the project's name> to delete them too", 409)
            audit.record(request, "project.delete", project, ratings=ratings, tasks=project.tasks.count())
            project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ---- members

    def _members_response(self, project):
        members = project.memberships.select_related("user").order_by("user__username")
        return Response(MemberSerializer(members, many=True).data)

    def _users(self, request, project=None):
        body = UsernamesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        names = set(body.validated_data["usernames"])
        users = get_user_model().objects.filter(username__in=names)
        if project is not None:
            users = users.filter(memberships__project=project)
        missing = sorted(names - {u.username for u in users})
        if missing:
            code, what = ("not_a_member", "not members") if project else ("unknown_user", "unknown users")
            raise Refusal(code, f"{what}: {', '.join(missing)}")
        return list(users)

    # The member and gold lists are short and whole (arrays, not pages): pagination_class=None.
    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def members(self, request, pk=None):
        """GET the members; POST {"usernames": [...]} adds annotators (all or none)."""
        project = self.get_object()
        if request.method == "POST":
            users = self._users(request)
            with transaction.atomic():
                ProjectMember.objects.bulk_create([ProjectMember(project=project, user=u) for u in users],
                                                  ignore_conflicts=True)
                audit.record(request, "members.add", project, usernames=sorted(u.username for u in users))
        return self._members_response(project)

    def _set_paused(self, request, paused: bool):
        project = self.get_object()
        users = self._users(request, project)
        with transaction.atomic():
            ProjectMember.objects.filter(project=project, user__in=users).update(paused=paused, paused_reason="")
            audit.record(request, "members.pause" if paused else "members.unpause", project,
                         usernames=sorted(u.username for u in users))
        return self._members_response(project)

    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="members/pause", pagination_class=None)
    def pause(self, request, pk=None):
        """Pause members: they get 403 `member_paused` from next."""
        return self._set_paused(request, True)

    @extend_schema(request=UsernamesSerializer, responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="members/unpause", pagination_class=None)
    def unpause(self, request, pk=None):
        """Unpause members (also lifts an automatic gold pause)."""
        return self._set_paused(request, False)

    # ---- annotating

    @extend_schema(request=None, responses={200: OpenApiResponse(description="the task payload"),
                                            204: OpenApiResponse(description="nothing left for you"),
                                            **ERRORS})
    @action(detail=True, methods=["post"], url_path="assignments/next")
    def next(self, request, pk=None):
        """Your live lease, or a new task held for you until `lease_expires`; 204 when none is left."""
        try:
            assignment = claim.next_assignment(path_id(pk, "project"), request.user)
        except NotAMember:
            project = self.get_object()  # 404 where the caller may not see the project
            if project.state != Project.State.READY:
                raise Refusal("project_not_ready", f"project is {project.state}, not ready", 409)
            raise
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(assignment_payload(assignment))

    # ---- quality and consensus

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
        queue = (PairResult.objects.filter(project=project, state=PairResult.State.CONTESTED)
                 .select_related("task__caption", "candidate__item").order_by("updated_at", "pk"))
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

    @extend_schema(request=None, responses={200: OpenApiResponse(description="progress, labels, agreement, annotators")})
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Progress, labels per modality pair, agreement (raw, Fleiss, Krippendorff), per-annotator figures."""
        return Response(stats.project_stats(self.get_object()))
