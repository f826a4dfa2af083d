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
    list_display = ["external_id", "modality", "dataset", "source_dataset", "license", "screen_status",
                    "screen_reason"]
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
    list_display = ["name", "model_name", "dim", "target_modality"]


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
    list_display = ["id", "format", "state", "export_progress", "row_count", "created_by", "created_at",
                    "finished_at"]
    list_filter = ["state", "format"]
    readonly_fields = ["export_progress", "row_count", "file_path", "size_bytes", "sha256", "error", "attempts",
                       "started_at", "finished_at"]
    filter_horizontal = ["projects"]

    @admin.display(description="progress")
    def export_progress(self, run):
        return progress_html(run.progress)


class PipelineStageInline(admin.TabularInline):
    """The launch, stage by stage: state, progress, counts, timing, error."""

    model = PipelineStage
    extra = 0
    can_delete = False
    fields = ["order", "name", "state", "stage_progress", "counts", "attempts", "started_at", "finished_at", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def stage_progress(self, stage):
        return progress_html(stage.progress)


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
        from .pipeline import runner

        for project in queryset:
            try:
                getattr(runner, action)(project.pk)
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
