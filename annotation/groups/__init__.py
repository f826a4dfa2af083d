"""Retrieval groups: for every caption of a pool, its top-k items in each target modality.

A build (annotation.models.GroupsBuild) names a caption pool (datasets, source
filters), one embedding space per target modality (any subset of video, audio,
image, point_cloud), k and the search (exact, or the batched IVF of sampling.ivf
with its recall@k against exact on a sample in `build.recall`). `create_build` checks a request,
`runner` drives it through plan -> search parts (gpu queue) -> merges (cpu) ->
finish (outputs, `export`), `importing` loads the E-MM1 100M layout or a list of
pairs as a build of its own (`source="imported"`, similarities NaN where unknown).

Reading a finished build's groups (other features use these, not the files):

    from annotation.groups import iter_chunks, iter_groups
    for chunk in iter_chunks(build):       # a caption chunk at a time, vectorised
        chunk.caption_ids                  # int64 [n]      Caption ids, ascending
        ids, sims = chunk.items["image"]   # int64 [n, k] Item ids, float32 [n, k]; rank r is column r - 1
    for caption_id, modality, rank, item_id, similarity in iter_groups(build):
        ...                                # one row per (caption, modality, rank); rank is 1-based (= nn_index)

Ranks are by similarity, ties by the smaller item id. Only a `succeeded` build
has groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .plan import GroupsRequestError, create_build

__all__ = ["GroupsChunk", "GroupsRequestError", "create_build", "iter_chunks", "iter_groups"]


@dataclass
class GroupsChunk:
    caption_ids: np.ndarray
    items: dict[str, tuple[np.ndarray, np.ndarray]]  # modality -> (item ids [n,k], similarities [n,k])


def iter_chunks(build) -> Iterator[GroupsChunk]:
    from .export import chunk_files

    if build.state != "succeeded":
        raise ValueError(f"groups build {build.pk} is {build.state}; only a succeeded build has groups")
    for data in chunk_files(build):
        yield GroupsChunk(data["caption_ids"], {m: (data[f"{m}__ids"], data[f"{m}__scores"]) for m in build.modalities})


def iter_groups(build) -> Iterator[tuple[int, str, int, int, float]]:
    """(caption id, modality, rank 1..k, item id, similarity), caption by caption."""
    for chunk in iter_chunks(build):
        for row, caption_id in enumerate(chunk.caption_ids.tolist()):
            for modality, (ids, sims) in chunk.items.items():
                for rank in range(ids.shape[1]):
                    yield caption_id, modality, rank + 1, int(ids[row, rank]), float(sims[row, rank])
