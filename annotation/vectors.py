"""Read a space's vectors for given captions or items, from memory-mapped shards.

The database says which (shard, row) holds each vector; this gathers them shard by
shard in row order, so reads are sequential and a million rows cost one pass.
"""

from __future__ import annotations

import numpy as np

from .models import CaptionVector, EmbeddingSpace, ItemVector, VectorShard


def _gather(rows: list[tuple[int, int, int]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """rows: (owner id, shard id, row). Returns (owner ids, float32 matrix) in owner-id order."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    table = np.array(rows, dtype=np.int64)
    table = table[np.argsort(table[:, 0], kind="stable")]
    out = np.empty((len(table), dim), dtype=np.float32)
    shards = {s.id: s for s in VectorShard.objects.filter(id__in=np.unique(table[:, 1]).tolist())}
    for shard_id, shard in shards.items():
        where = np.flatnonzero(table[:, 1] == shard_id)
        order = np.argsort(table[where, 2], kind="stable")
        matrix = shard.load()
        out[where[order]] = matrix[table[where[order], 2]]
    return table[:, 0], out


def caption_vectors(space: EmbeddingSpace, caption_ids) -> tuple[np.ndarray, np.ndarray]:
    """(caption ids sorted, vectors); captions without a vector in the space are left out."""
    ids = list(map(int, caption_ids))
    rows = []
    for start in range(0, len(ids), 50_000):
        rows += CaptionVector.objects.filter(space=space, caption_id__in=ids[start : start + 50_000]).values_list(
            "caption_id", "shard_id", "row"
        )
    return _gather(rows, space.dim)


def item_vectors(space: EmbeddingSpace) -> tuple[np.ndarray, np.ndarray]:
    """(item ids sorted, vectors) of every item of the space's target modality."""
    rows = list(
        ItemVector.objects.filter(space=space, item__modality=space.target_modality).values_list(
            "item_id", "shard_id", "row"
        )
    )
    return _gather(rows, space.dim)
