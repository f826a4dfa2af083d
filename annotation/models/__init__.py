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
from .projects import PipelineStage, Project, ProjectMember, Task, TaskCandidate

__all__ = [
    "Caption",
    "CaptionVector",
    "Dataset",
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
