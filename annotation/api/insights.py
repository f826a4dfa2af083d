"""What the ratings say about the retrieval (admins only): the insights report and its
tables as CSV/JSON downloads. Formulas and estimands: docs/statistics.md."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..insights import report, tables
from ..models import Project
from .permissions import IsAdmin


class InsightsQuerySerializer(serializers.Serializer):
    target = serializers.FloatField(
        default=0.8,
        min_value=0.01,
        max_value=0.999,
        help_text="precision the recommended threshold's lower bound must meet",
    )
    label = serializers.ChoiceField(
        choices=list(report.LABELS), default="good", help_text="what counts as a hit for calibration and the threshold"
    )
    n_boot = serializers.IntegerField(
        default=1000, min_value=100, max_value=5000, help_text="cluster-bootstrap replicates"
    )
    window_hours = serializers.FloatField(
        default=1.0, min_value=0.01, max_value=24 * 30, help_text="time window of the drift and throughput series"
    )
    method = serializers.ChoiceField(
        choices=["logistic", "isotonic"],
        default="logistic",
        help_text="calibration model: logistic in similarity and log(1+rank), or isotonic in similarity",
    )


class PrecisionRowSerializer(serializers.Serializer):
    sample = serializers.ChoiceField(choices=["rated", "audit"])
    scope = serializers.ChoiceField(choices=list(report.SCOPES))
    group = serializers.CharField()
    label = serializers.ChoiceField(choices=list(report.LABELS))
    estimate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    pairs = serializers.IntegerField()
    captions = serializers.IntegerField()
    rests_on_audit = serializers.BooleanField()


class ReliabilityBinSerializer(serializers.Serializer):
    bin_low = serializers.FloatField()
    bin_high = serializers.FloatField()
    predicted = serializers.FloatField(allow_null=True)
    observed = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    pairs = serializers.IntegerField()


class ThresholdPointSerializer(serializers.Serializer):
    threshold = serializers.FloatField()
    precision = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True)
    pairs = serializers.IntegerField()


class ThresholdSerializer(serializers.Serializer):
    target = serializers.FloatField()
    recommended = serializers.FloatField(allow_null=True, help_text="lowest threshold whose lower bound meets target")
    sample = serializers.ChoiceField(choices=["rated", "audit"])
    rests_on_audit = serializers.BooleanField()
    curve = ThresholdPointSerializer(many=True)


class CalibrationSerializer(serializers.Serializer):
    modality_pair = serializers.CharField()
    label = serializers.CharField()
    pairs = serializers.IntegerField()
    audit_pairs = serializers.IntegerField()
    model = serializers.DictField(help_text="method and coefficients (logistic) or steps (isotonic)")
    curve = serializers.ListField(child=serializers.DictField(), help_text="similarity, rank, predicted")
    reliability = ReliabilityBinSerializer(many=True)
    threshold = ThresholdSerializer()


class DriftAnnotatorSerializer(serializers.Serializer):
    username = serializers.CharField()
    suggest_pause = serializers.BooleanField(help_text="a flag was raised; an admin decides")
    flags = serializers.DictField(
        child=serializers.DictField(), help_text="per metric: baselines, flag_at (task index), flagged_at_time"
    )


class DriftSerializer(serializers.Serializer):
    window_seconds = serializers.FloatField()
    settings = serializers.DictField()
    annotators = DriftAnnotatorSerializer(many=True)
    windows = serializers.ListField(child=serializers.DictField())


class InsightsSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    pairs = serializers.IntegerField()
    audit_pairs = serializers.IntegerField()
    audit_share = serializers.FloatField()
    n_boot = serializers.IntegerField()
    level = serializers.FloatField()
    precision = PrecisionRowSerializer(many=True)
    calibration = CalibrationSerializer(many=True)
    drift = DriftSerializer()
    position_bias = serializers.DictField(help_text="slots (raw and rank-standardised share good), chi2, dof, p_value")
    throughput = serializers.DictField(help_text="buckets, rate_per_hour, remaining, eta_hours")


def _report(request, pk: int):
    project = get_object_or_404(Project, pk=pk)
    query = InsightsQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    options = dict(query.validated_data)
    options["window_seconds"] = options.pop("window_hours") * 3600.0
    return report.insights(project, **options)


class InsightsView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[InsightsQuerySerializer],
        responses={200: InsightsSerializer, 400: OpenApiResponse(description="bad parameter")},
    )
    def get(self, request, pk: int):
        """Precision per modality pair, rank and similarity bin (95 % cluster-bootstrap
        intervals), calibration and recommended threshold, annotator drift, position bias,
        throughput and ETA."""
        return Response(_report(request, pk))


class InsightsTableView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[
            InsightsQuerySerializer,
            OpenApiParameter("table", str, OpenApiParameter.PATH, enum=list(tables.TABLES)),
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["csv", "json"]),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): {"type": "array", "items": {"type": "object"}},
            404: OpenApiResponse(description="no such table"),
        },
    )
    def get(self, request, pk: int, table: str, fmt: str):
        """One insights table as a download (CSV or JSON rows)."""
        if table not in tables.TABLES or fmt not in ("csv", "json"):
            return Response(
                {"code": "not_found", "detail": f"tables: {', '.join(tables.TABLES)}; formats: csv, json"}, status=404
            )
        rows = tables.flat(_report(request, pk), table)
        filename = f"project-{pk}-{table}.{fmt}"
        if fmt == "json":
            response = Response(rows)
        else:
            response = HttpResponse(tables.to_csv(rows, table), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


# ---- cleaning a groups build (annotation/insights/cleaning.py) ----------------


class CleanRequestSerializer(serializers.Serializer):
    projects = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        allow_empty=False,
        help_text="rated projects, one per target modality",
    )
    target = serializers.FloatField(default=0.8, min_value=0.01, max_value=0.999)
    label = serializers.ChoiceField(choices=list(report.LABELS), default="good")
    n_boot = serializers.IntegerField(default=1000, min_value=100, max_value=5000)


def _build(pk: int):
    from ..models import GroupsBuild

    return get_object_or_404(GroupsBuild, pk=pk)


class CleaningRequestEchoSerializer(serializers.Serializer):
    projects = serializers.ListField(child=serializers.IntegerField())
    target = serializers.FloatField()
    label = serializers.CharField()
    n_boot = serializers.IntegerField()


class CleaningRunSerializer(serializers.Serializer):
    """The build's cleaning run record (annotation/insights/cleaning_runs.py): poll it
    until `state` is succeeded or failed."""

    state = serializers.ChoiceField(choices=["pending", "running", "succeeded", "failed"])
    progress = serializers.FloatField(help_text="share of the build's captions written (0..1)")
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    request = CleaningRequestEchoSerializer()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    manifest = serializers.DictField(
        allow_null=True,
        help_text="the last complete output: per modality project, model, threshold, pairs and captions kept; files",
    )
    poll_url = serializers.CharField(help_text="where to follow this run (GET)")


def _run_body(request, build_pk: int, run: dict) -> dict:
    from django.urls import reverse

    body = {key: run.get(key) for key in CleaningRunSerializer().fields if key != "poll_url"}
    return {**body, "poll_url": request.build_absolute_uri(reverse("groups-clean", args=[build_pk]))}


class GroupsCleanView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=CleanRequestSerializer,
        responses={
            202: CleaningRunSerializer,
            400: OpenApiResponse(description="field errors; nothing queued"),
            409: OpenApiResponse(description="a cleaning of this build is running"),
        },
    )
    def post(self, request, pk: int):
        """Queue the cleaning (the `cpu` queue): keep the build's pairs at or above each
        modality's recommended threshold and write them, with predicted P(good), in the
        groups export's CSV and Parquet layouts. Poll `poll_url` for the run."""
        from ..insights import cleaning, cleaning_runs

        build = _build(pk)
        body = CleanRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["projects"]
        projects = list(Project.objects.filter(pk__in=ids))
        missing = sorted(set(ids) - {p.pk for p in projects})
        if missing:
            raise serializers.ValidationError({"projects": [f"no project {', '.join(map(str, missing))}"]})
        try:
            cleaning_runs.start(
                build,
                projects,
                body.validated_data["target"],
                body.validated_data["label"],
                body.validated_data["n_boot"],
            )
        except cleaning.CleaningError as exc:
            raise serializers.ValidationError(exc.fields) from exc
        except cleaning_runs.CleaningBusy as exc:
            return Response({"code": "cleaning_running", "detail": str(exc)}, status=409)
        build.refresh_from_db()  # in-process (the demo) the task has already run
        return Response(_run_body(request, pk, cleaning_runs.record(build)), status=202)

    @extend_schema(responses={200: CleaningRunSerializer, 404: OpenApiResponse(description="never cleaned")})
    def get(self, request, pk: int):
        """The build's cleaning run: state, progress, and the last complete output's manifest."""
        from ..insights import cleaning_runs

        run = cleaning_runs.record(_build(pk))
        if run is None:
            return Response({"code": "not_found", "detail": "this build has not been cleaned"}, status=404)
        return Response(_run_body(request, pk, run))


class GroupsCleanedFileView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="not a file of the cleaned output"),
        }
    )
    def get(self, request, pk: int, name: str):
        """One file of the last complete cleaned output (only names listed in its manifest):
        streamed, or a redirect to a presigned URL on the object store."""
        from .. import storage
        from ..insights import cleaning, cleaning_runs

        manifest = cleaning_runs.manifest(_build(pk))
        if manifest is None or name not in manifest["files"]:
            return Response({"code": "not_found", "detail": "not a file of this build's cleaned output"}, status=404)
        return storage.file_response(f"{cleaning.folder_name(pk)}/{name}", f"cleaned-{pk}-{name.replace('/', '-')}")
