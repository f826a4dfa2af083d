"""Django admin for every model; import runs show their progress."""
from django.contrib import admin
from django.utils.html import format_html

from .models import Caption, CaptionVector, Dataset, EmbeddingSpace, ImportRun, Item, ItemVector, VectorShard


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "modality", "dataset", "source_dataset", "license"]
    list_filter = ["modality", "dataset"]
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
        return format_html('<progress value="{}" max="100"></progress> {}%',
                           int(run.progress * 100), int(run.progress * 100))


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
        percent = int(run.progress * 100)
        return format_html('<progress value="{}" max="100"></progress> {}%', percent, percent)
