"""Django admin for every model; imports, launches and exports show their progress."""

from django.contrib import admin, messages
from django.utils.html import format_html

from .models import (
    Caption,
    CaptionVector,
    Dataset,
    EmbeddingSpace,
    ImportRun,
    Item,
    ItemVector,
    PipelineStage,
    Project,
    ProjectMember,
    Task,
    TaskCandidate,
    VectorShard,
)


def progress_html(fraction: float):
    percent = int(fraction * 100)
    return format_html('<progress value="{}" max="100"></progress> {}%', percent, percent)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    actions = ["screen_media"]

    @admin.action(description="Re-screen the media of the selected datasets")
    def screen_media(self, request, queryset):
        from .screening import runs

        for dataset in queryset:
            run = runs.start(dataset)
            self.message_user(request, f"{dataset}: screening {run.pk} queued")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "modality", "dataset", "source_dataset", "license", "screen_status", "screen_reason"]
    list_filter = ["modality", "screen_status", "dataset"]
    search_fields = ["external_id"]
    list_select_related = ["dataset"]
    show_full_result_count = False  # counting millions of rows on every page is slow


@admin.register(Caption)
class CaptionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "text", "source_modality", "dataset"]
    list_filter = ["source_modality", "dataset"]
    search_fields = ["external_id", "text"]
    raw_id_fields = ["paired_item"]
    list_select_related = ["dataset"]
    show_full_result_count = False


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["name", "model_name", "dim", "target_modality", "encoder_family"]
    readonly_fields = ["encoder_fingerprint", "encoder_info"]


@admin.register(VectorShard)
class VectorShardAdmin(admin.ModelAdmin):
    list_display = ["path", "space", "side", "rows", "created_at"]
    list_filter = ["space", "side"]


@admin.register(ItemVector)
class ItemVectorAdmin(admin.ModelAdmin):
    list_display = ["item", "space", "shard", "row"]
    raw_id_fields = ["item", "shard"]
    show_full_result_count = False


@admin.register(CaptionVector)
class CaptionVectorAdmin(admin.ModelAdmin):
    list_display = ["caption", "space", "shard", "row"]
    raw_id_fields = ["caption", "shard"]
    show_full_result_count = False


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset_name", "state", "progress_bar", "created_at", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["progress_bar", "counts", "errors"]

    @admin.display(description="progress")
    def progress_bar(self, run):
        return progress_html(run.progress)


# ---- rating workflow
from .models import Adjudication, Assignment, GoldPair, PairResult, Rating  # noqa: E402


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "task", "annotator", "state", "gold", "leased_until", "submitted_at"]
    list_filter = ["state", "gold", "project"]
    raw_id_fields = ["task", "annotator"]
    show_full_result_count = False


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "assignment", "candidate", "label"]
    list_filter = ["label"]
    raw_id_fields = ["assignment", "candidate"]
    show_full_result_count = False


@admin.register(PairResult)
class PairResultAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "task", "candidate", "state", "label", "votes"]
    list_filter = ["state", "label", "project"]
    raw_id_fields = ["task", "candidate"]
    show_full_result_count = False


@admin.register(GoldPair)
class GoldPairAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "candidate", "label", "created_by"]
    raw_id_fields = ["candidate"]


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["id", "result", "label", "admin", "created_at"]
    raw_id_fields = ["result"]


# ---- exports
from .models import ExportRun  # noqa: E402


@admin.register(ExportRun)
class ExportRunAdmin(admin.ModelAdmin):
    list_display = ["id", "format", "state", "export_progress", "row_count", "created_by", "created_at", "finished_at"]
    list_filter = ["state", "format"]
    readonly_fields = [
        "export_progress",
        "row_count",
        "file_path",
        "size_bytes",
        "sha256",
        "error",
        "attempts",
        "started_at",
        "finished_at",
    ]
    filter_horizontal = ["projects"]

    @admin.display(description="progress")
    def export_progress(self, run):
        return progress_html(run.progress)


class PipelineStageInline(admin.TabularInline):
    """The launch, stage by stage: state, progress, counts, timing, error."""

    model = PipelineStage
    extra = 0
    can_delete = False
    fields = [
        "order",
        "name",
        "state",
        "stage_progress",
        "counts",
        "attempts",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "stage_history",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def stage_progress(self, stage):
        return progress_html(stage.progress)

    @admin.display(description="history")
    def stage_history(self, stage):
        """Fault recovery events (annotation.sweeper): re-dispatched, dispatch failed, retried."""
        return (
            "; ".join(
                f"{e['at']} {e['event']}" + (f" ({e['detail']})" if e.get("detail") else "") for e in stage.history
            )
            or "-"
        )


class ProjectMemberInline(admin.TabularInline):
    model = ProjectMember
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "target_modality", "state", "launch_progress", "annotators_per_task", "launched_at"]
    list_filter = ["state", "target_modality"]
    search_fields = ["name"]
    filter_horizontal = ["caption_datasets"]
    inlines = [PipelineStageInline, ProjectMemberInline]
    actions = ["launch", "retry", "cancel"]

    @admin.display(description="pipeline")
    def launch_progress(self, project):
        stages = list(project.stages.all())
        return progress_html(sum(s.progress for s in stages) / len(stages)) if stages else "-"

    def _run(self, request, queryset, action: str) -> None:
        from . import audit
        from .pipeline import runner

        for project in queryset:
            try:
                getattr(runner, action)(project.pk)
                audit.record(request, f"pipeline.{action}", project, via="admin")
                self.message_user(request, f"{project}: {action} started")
            except runner.LaunchError as exc:
                details = "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.fields.items())
                self.message_user(request, f"{project}: {exc.message} {details}", level=messages.ERROR)

    @admin.action(description="Launch the selected projects")
    def launch(self, request, queryset):
        self._run(request, queryset, "launch")

    @admin.action(description="Retry the failed stage")
    def retry(self, request, queryset):
        self._run(request, queryset, "retry")

    @admin.action(description="Cancel the running launch")
    def cancel(self, request, queryset):
        self._run(request, queryset, "cancel")


class TaskCandidateInline(admin.TabularInline):
    model = TaskCandidate
    extra = 0
    raw_id_fields = ["item"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "position", "caption", "open_slots", "rating_count", "is_gold"]
    list_filter = ["project"]
    raw_id_fields = ["caption", "paired_item"]
    inlines = [TaskCandidateInline]
    list_select_related = ["caption", "project"]
    show_full_result_count = False


@admin.register(ProjectMember)
class ProjectMemberAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "paused", "paused_reason", "served", "gold_answered", "gold_correct"]
    list_filter = ["project", "paused"]
    raw_id_fields = ["user"]


@admin.register(PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ["project", "order", "name", "state", "stage_progress", "attempts", "started_at", "finished_at"]
    list_filter = ["state", "name"]

    @admin.display(description="progress")
    def stage_progress(self, stage):
        return progress_html(stage.progress)


@admin.register(TaskCandidate)
class TaskCandidateAdmin(admin.ModelAdmin):
    list_display = ["task", "slot", "item", "retrieval_rank", "similarity"]
    raw_id_fields = ["task", "item"]
    show_full_result_count = False


# ---- media screening
from .models import ScreeningRun  # noqa: E402


@admin.register(ScreeningRun)
class ScreeningRunAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "state", "screening_progress", "counts", "created_at", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["screening_progress", "bounds", "done_parts", "counts", "error", "finished_at"]

    @admin.display(description="progress")
    def screening_progress(self, run):
        return progress_html(run.progress)


# ---- audit log and login limit (annotation.audit, annotation.api.logins)
from .api.logins import ThrottledAdminAuthenticationForm  # noqa: E402
from .models import AuditEntry  # noqa: E402

admin.site.login_form = ThrottledAdminAuthenticationForm  # the failed-login limit on /admin/login/ too


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are written by the API's admin actions, never edited or removed here."""

    list_display = ["created_at", "actor_name", "action", "target_type", "target_id", "target_repr", "address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_name", "target_repr"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---- retrieval groups (annotation.groups) ------------------------------------
from .models import GroupsBuild, GroupsPart, ProjectGroups  # noqa: E402


@admin.register(GroupsBuild)
class GroupsBuildAdmin(admin.ModelAdmin):
    """Builds are started from the API or `manage.py build_groups`; here: follow, cancel, retry, download."""

    list_display = ["id", "name", "source", "state", "groups_progress", "k", "method", "created_at", "finished_at"]
    list_filter = ["state", "source", "method"]
    readonly_fields = [
        "groups_progress",
        "counts",
        "recall",
        "error",
        "attempts",
        "output_path",
        "downloads",
        "started_at",
        "finished_at",
    ]
    filter_horizontal = ["caption_datasets", "spaces"]
    actions = ["cancel", "retry"]

    def has_add_permission(self, request) -> bool:
        return False  # a build is checked and planned by annotation.groups.create_build

    @admin.display(description="progress")
    def groups_progress(self, build):
        return progress_html(build.progress)

    @admin.display(description="files")
    def downloads(self, build):
        from django.urls import reverse
        from django.utils.html import format_html_join

        url = reverse("groups-download", args=[build.pk])
        return format_html_join(
            "",
            '<a href="{}?file={}">{}</a> ({} rows, sha256 {})<br>',
            ((url, name, name, f.get("rows", ""), f["sha256"][:12]) for name, f in build.files.items()),
        )

    def _run(self, request, queryset, action) -> None:
        from .groups import GroupsRequestError

        for build in queryset:
            try:
                action(build.pk)
            except GroupsRequestError as exc:
                self.message_user(request, f"groups {build.pk}: {exc.message}", messages.WARNING)

    @admin.action(description="Cancel the selected builds")
    def cancel(self, request, queryset):
        from .groups import runner

        self._run(request, queryset, runner.cancel)

    @admin.action(description="Retry the selected builds")
    def retry(self, request, queryset):
        from .groups import runner

        self._run(request, queryset, runner.retry)


@admin.register(GroupsPart)
class GroupsPartAdmin(admin.ModelAdmin):
    list_display = ["id", "build", "kind", "modality", "caption_chunk", "item_chunk", "state", "attempts", "worker"]
    list_filter = ["kind", "state"]
    raw_id_fields = ["build"]


# ---- embedding on the workers (annotation/embedding)
from .models import EmbedPart, EmbedRun  # noqa: E402


class EmbedPartInline(admin.TabularInline):
    model = EmbedPart
    extra = 0
    can_delete = False
    fields = ["side", "index", "first", "rows", "done", "embedded", "failures", "finished_at"]
    readonly_fields = fields


@admin.register(EmbedRun)
class EmbedRunAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "space", "state", "progress_bar", "created_at", "finished_at"]
    list_filter = ["state", "space"]
    readonly_fields = [
        "dataset",
        "space",
        "state",
        "progress_bar",
        "parts_total",
        "parts_done",
        "counts",
        "errors",
        "created_by",
        "finished_at",
    ]
    inlines = [EmbedPartInline]

    @admin.display(description="progress")
    def progress_bar(self, run):
        return progress_html(run.progress)

    def has_add_permission(self, request) -> bool:
        return False  # started with `manage.py embed` or POST /api/embed-runs/


# ---- caption filter: safety labels (calibration) and filtered captions (sampling/nsfw)
from django.http import HttpResponse  # noqa: E402

from .models import CaptionSafetyLabel, FilteredCaption  # noqa: E402
from .models.nsfw import LABEL_CHOICES  # noqa: E402


def _mark_captions(label: str):
    def action(modeladmin, request, queryset):
        for caption_id in queryset.values_list("id", flat=True):
            CaptionSafetyLabel.objects.update_or_create(
                caption_id=caption_id, defaults={"label": label, "labelled_by": request.user}
            )
        modeladmin.message_user(request, f"{queryset.count()} captions labelled {label}")

    action.__name__ = f"mark_{label}"
    action.short_description = f"Label as {label} (NSFW calibration)"
    return action


# Appended to the caption admin's actions here, so the caption admin itself stays as it is.
CaptionAdmin.actions = [*(CaptionAdmin.actions or []), *(_mark_captions(value) for value, _ in LABEL_CHOICES)]


@admin.register(CaptionSafetyLabel)
class CaptionSafetyLabelAdmin(admin.ModelAdmin):
    list_display = ["caption_id", "caption_text", "label", "labelled_by", "labelled_at"]
    list_filter = ["label"]
    search_fields = ["caption__text", "caption__external_id"]
    raw_id_fields = ["caption", "labelled_by"]
    list_select_related = ["caption", "labelled_by"]
    actions = ["calibration_report"]

    @admin.display(description="caption")
    def caption_text(self, label):
        return label.caption.text[:120]

    @admin.action(description="Report precision/recall per category and suggest thresholds")
    def calibration_report(self, request, queryset):
        from .nsfw_calibration import report, summary_lines

        result = report(queryset)
        self.message_user(request, f"{result['labelled']} labelled captions scored with {result['backend']}")
        for line in summary_lines(result):
            self.message_user(request, line)


@admin.register(FilteredCaption)
class FilteredCaptionAdmin(admin.ModelAdmin):
    """Captions the filter stage kept away from annotators, with scores and reason."""

    list_display = ["project", "caption_id", "caption_text", "reason"]
    list_filter = ["project"]
    search_fields = ["reason", "caption__text"]
    readonly_fields = ["project", "caption", "reason", "scores"]
    list_select_related = ["project", "caption"]
    show_full_result_count = False
    actions = ["export_csv"]

    @admin.display(description="caption")
    def caption_text(self, row):
        return row.caption.text[:120]

    def has_add_permission(self, request) -> bool:
        return False  # written by the launch's filter stage

    @admin.action(description="Export the selected as CSV (caption, reason, scores)")
    def export_csv(self, request, queryset):
        from .nsfw_calibration import write_filtered_csv

        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="filtered_captions.csv"'
        write_filtered_csv(response, queryset)
        return response


@admin.register(EmbedPart)
class EmbedPartAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "side", "index", "rows", "done", "embedded", "finished_at"]
    list_filter = ["side", "done"]
    raw_id_fields = ["run"]


@admin.register(ProjectGroups)
class ProjectGroupsAdmin(admin.ModelAdmin):
    list_display = ["project", "build"]
    raw_id_fields = ["project", "build"]
