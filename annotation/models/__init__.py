"""Domain models, one module per concern."""

from .audit import AuditEntry
from .datasets import (
    Caption,
    CaptionVector,
    Dataset,
    EmbeddingSpace,
    ImportRun,
    Item,
    ItemVector,
    Modality,
    ScreenStatus,
    VectorShard,
)
from .embedding import EmbedPart, EmbedRun
from .exports import ExportRun
from .nsfw import CaptionSafetyLabel, FilteredCaption
from .groups import GroupsBuild, GroupsPart, ProjectGroups
from .projects import PipelineStage, Project, ProjectMember, Task, TaskCandidate
from .screening import ScreeningRun
from .rating import Adjudication, Assignment, GoldPair, Label, PairResult, Rating

__all__ = [
    "AuditEntry",
    "Adjudication",
    "Assignment",
    "GoldPair",
    "Label",
    "PairResult",
    "Rating",
    "ScreeningRun",
    "ScreenStatus",
    "Caption",
    "CaptionSafetyLabel",
    "CaptionVector",
    "Dataset",
    "EmbedPart",
    "EmbedRun",
    "ExportRun",
    "FilteredCaption",
    "GroupsBuild",
    "GroupsPart",
    "ProjectGroups",
    "EmbeddingSpace",
    "ImportRun",
    "Item",
    "ItemVector",
    "Modality",
    "PipelineStage",
    "Project",
    "ProjectMember",
    "Task",
    "TaskCandidate",
    "VectorShard",
]
