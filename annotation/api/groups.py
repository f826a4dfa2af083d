"""Retrieval groups (admins only): start a build, follow it, cancel, retry, download.

`POST /api/groups/` checks the request and starts a build (400 with `fields` for
settings that cannot work, 409 while a build runs on the same pool; nothing is stored
on a refusal). `GET /api/groups/{id}/` reports state, progress, counts, recall and the
output files; `POST .../cancel/`, `.../retry/`; `GET .../download/?file=<name>` serves
one output file (a name from `files`), with its sha256 in `X-Checksum-SHA256`;
`POST .../projects/ {"project": id}` makes a draft project take its candidates from the build.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import storage
from ..groups import GroupsRequestError, create_build, runner
from ..models import GroupsBuild, Project
from .permissions import IsAdmin


class GroupsBuildSerializer(serializers.ModelSerializer):
    caption_datasets = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    spaces = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GroupsBuild
        fields = [
            "id",
            "name",
            "source",
            "caption_datasets",
            "caption_source_modalities",
            "caption_source_datasets",
            "spaces",
            "modalities",
            "k",
            "method",
            "nlist",
            "nprobe",
            "seed",
            "caption_chunk_rows",
            "item_chunk_rows",
            "state",
            "progress",
            "counts",
            "recall",
            "error",
            "attempts",
            "files",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_spaces(self, build) -> dict[str, str]:
        return {space.target_modality: space.name for space in build.spaces.all()}

    def get_files(self, build) -> dict:
        if build.state != GroupsBuild.State.SUCCEEDED:
            return {}
        url = reverse("groups-download", args=[build.pk])
        request = self.context.get("request")
        base = request.build_absolute_uri(url) if request else url
        return {name: {**record, "url": f"{base}?file={name}"} for name, record in build.files.items()}


class GroupsRequestSerializer(serializers.Serializer):
    datasets = serializers.ListField(child=serializers.CharField(), help_text="dataset names or ids")
    spaces = serializers.DictField(
        child=serializers.CharField(),
        help_text="target modality (video, audio, image, point_cloud) -> space name or id",
    )
    k = serializers.IntegerField(required=False, default=16)
    method = serializers.CharField(required=False, default="exact")
    nlist = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="ivf: lists per item chunk; blank = 2 sqrt(n)"
    )
    nprobe = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="ivf: lists searched per caption; blank = nlist / 32, >= 16",
    )
    seed = serializers.IntegerField(required=False, default=0)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    caption_source_modalities = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    caption_source_datasets = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class LinkSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class PairsSerializer(LinkSerializer):
    path = serializers.CharField(max_length=1000, help_text="pairs file on the server, under PAIRRATE_IMPORT_ROOTS")


def refusal(exc: GroupsRequestError) -> Response:
    return Response({"code": exc.code, "detail": exc.message, "fields": exc.fields}, status=exc.status)


class GroupsViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = (
        GroupsBuild.objects.order_by("-created_at")
        .select_related("created_by")
        .prefetch_related("caption_datasets", "spaces")
    )
    serializer_class = GroupsBuildSerializer
    permission_classes = [IsAdmin]

    def get_serializer_class(self):
        return GroupsRequestSerializer if self.action == "create" else GroupsBuildSerializer

    def _payload(self, build: GroupsBuild, code: int = status.HTTP_202_ACCEPTED) -> Response:
        build = self.get_queryset().get(pk=build.pk)
        return Response(GroupsBuildSerializer(build, context={"request": self.request}).data, status=code)

    @extend_schema(request=GroupsRequestSerializer, responses={202: GroupsBuildSerializer})
    def create(self, request, *args, **kwargs):
        body = GroupsRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            build = create_build(data.pop("datasets"), data.pop("spaces"), user=request.user, **data)
        except GroupsRequestError as exc:
            return refusal(exc)
        runner.start(build.pk)
        return self._payload(build)

    @extend_schema(request=None, responses={202: GroupsBuildSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            build = runner.cancel(self.get_object().pk)
        except GroupsRequestError as exc:
            return refusal(exc)
        return self._payload(build)

    @extend_schema(request=None, responses={202: GroupsBuildSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        try:
            build = runner.retry(self.get_object().pk)
        except GroupsRequestError as exc:
            return refusal(exc)
        return self._payload(build)

    @extend_schema(request=LinkSerializer, responses={200: LinkSerializer})
    @action(detail=True, methods=["post"])
    def projects(self, request, pk=None):
        """Make a draft project take its candidates from this build (launch it as usual)."""
        from ..groups.candidates import link_project

        body = LinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = Project.objects.filter(pk=body.validated_data["project"]).first()
        if project is None:
            return Response(
                {"code": "unknown_project", "detail": "no such project", "fields": {"project": ["no such project"]}},
                status=404,
            )
        try:
            link_project(project, self.get_object())
        except GroupsRequestError as exc:
            return refusal(exc)
        return Response({"project": project.pk}, status=status.HTTP_200_OK)

    @extend_schema(request=PairsSerializer, responses={202: GroupsBuildSerializer})
    @action(detail=False, methods=["post"])
    def pairs(self, request):
        """A draft project takes its candidates from a list of pairs (annotation.groups.pairs)."""
        from ..groups.pairs import project_from_pairs
        from ..importing.errors import BundleError
        from ..importing.runs import UploadError, allowed_source

        body = PairsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = Project.objects.filter(pk=body.validated_data["project"]).first()
        if project is None:
            return Response(
                {"code": "unknown_project", "detail": "no such project", "fields": {"project": ["no such project"]}},
                status=404,
            )
        try:
            path = allowed_source(body.validated_data["path"])
            build = project_from_pairs(path, project, request.user)
        except UploadError as exc:
            return Response({"code": "invalid_pairs", "detail": str(exc), "fields": {"path": [str(exc)]}}, status=400)
        except BundleError as exc:
            return Response(
                {"code": "invalid_pairs", "detail": str(exc), "errors": [e.as_dict() for e in exc.errors]}, status=400
            )
        except GroupsRequestError as exc:
            return refusal(exc)
        return self._payload(build)

    @extend_schema(
        parameters=[OpenApiParameter("file", str, description="an output file name from `files`")],
        responses={(200, "application/octet-stream"): bytes},
    )
    @action(detail=True, methods=["get"], url_name="download")
    def download(self, request, pk=None):
        build = self.get_object()
        if build.state != GroupsBuild.State.SUCCEEDED or not build.output_path:
            return Response({"code": "not_ready", "detail": f"the build is {build.state}"}, status=409)
        name = request.query_params.get("file", "")
        record = build.files.get(name)  # only names the build wrote: nothing else is reachable
        if record is None:
            return Response(
                {
                    "code": "unknown_file",
                    "detail": "name one of the build's files",
                    "fields": {"file": [f"one of {', '.join(list(build.files)[:8])}, ..."]},
                },
                status=404,
            )
        try:
            response = storage.file_response(f"{build.output_path}/{name}", name.replace("/", "_"))
        except FileNotFoundError:
            return Response({"code": "not_ready", "detail": "the file is gone from media storage"}, status=409)
        response["X-Checksum-SHA256"] = record["sha256"]
        return response
