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

__all__ = [
    "Caption",
    "CaptionVector",
    "Dataset",
    "EmbeddingSpace",
    "ImportRun",
    "Item",
    "ItemVector",
    "Modality",
    "VectorShard",
]
