"""Domain models, one module per concern."""
from .datasets import (
    Caption,
    CaptionVector,
    Dataset,
    EmbeddingSpace,
    ImportRun,
    Item,
    ItemVector,
    Modality,
    VectorShard,
)
from .exports import ExportRun
from .groups import GroupsBuild, GroupsPart, ProjectGroups
from .projects import PipelineStage, Project, ProjectMember, Task, TaskCandidate
from .rating import Adjudication, Assignment, GoldPair, Label, PairResult, Rating

__all__ = [
    "Adjudication",
    "Assignment",
    "GoldPair",
    "Label",
    "PairResult",
    "Rating",
    "Caption",
    "CaptionVector",
    "Dataset",
    "ExportRun",
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
