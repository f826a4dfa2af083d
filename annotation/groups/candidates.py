"""Rating projects whose candidates come from a groups build (annotation.models.ProjectGroups).

The launch pipeline's match stage calls `candidates_for` instead of searching: each
sampled caption gets its groups in the project's target modality, best first, so the
rated pairs are exactly pairs of the build (de-duplication and the item cap still
apply after). Where the build has no similarities (an import), they are recomputed
from the project's space.
"""

from __future__ import annotations

import numpy as np

from ..models import GroupsBuild, ItemVector, Project, ProjectGroups
from ..vectors import _gather, caption_vectors


def source_of(project: Project) -> GroupsBuild | None:
    link = ProjectGroups.objects.filter(project=project).select_related("build").first()
    return link.build if link else None


def link_project(project: Project, build: GroupsBuild) -> ProjectGroups:
    """Make a draft project take its candidates from `build` (GroupsRequestError if it cannot)."""
    from .plan import GroupsRequestError

    if project.state != Project.State.DRAFT:
        raise GroupsRequestError("not_draft", f"project {project.name!r} is {project.state}; link a draft project")
    link, _ = ProjectGroups.objects.update_or_create(project=project, defaults={"build": build})
    errors = project_errors(project)
    if errors:
        link.delete()
        raise GroupsRequestError("invalid_groups", "the project cannot take its candidates from this build", errors)
    return link


def project_errors(project: Project) -> dict[str, list[str]]:
    """Field errors of a project that takes its candidates from a build (empty otherwise)."""
    build = source_of(project)
    if build is None:
        return {}
    if build.state != GroupsBuild.State.SUCCEEDED:
        return {"groups": [f"groups build {build.pk} is {build.state}, not succeeded"]}
    errors = {}
    if project.target_modality not in build.modalities:
        errors["groups"] = [
            f"groups build {build.pk} has no {project.target_modality} groups (it has {', '.join(build.modalities)})"
        ]
    if project.candidates_per_task > build.k:
        errors["candidates_per_task"] = [
            f"groups build {build.pk} holds {build.k} items per caption; cannot choose {project.candidates_per_task}"
        ]
    return errors


def candidates_for(build: GroupsBuild, modality: str, caption_ids: np.ndarray, k: int, space=None):
    """(similarities float32 [n, k], item ids int64 [n, k]) for sorted caption ids; a caption
    outside the build gets ids -1 (scores -inf), which the pipeline treats as no candidate."""
    from . import iter_chunks

    k = min(k, build.k)
    caption_ids = np.asarray(caption_ids, dtype=np.int64)
    scores = np.full((len(caption_ids), k), -np.inf, dtype=np.float32)
    ids = np.full((len(caption_ids), k), -1, dtype=np.int64)
    for chunk in iter_chunks(build):
        where = np.flatnonzero(np.isin(caption_ids, chunk.caption_ids))
        if not len(where):
            continue
        rows = np.searchsorted(chunk.caption_ids, caption_ids[where])
        chunk_ids, chunk_scores = chunk.items[modality]
        ids[where], scores[where] = chunk_ids[rows, :k], chunk_scores[rows, :k]
    unknown = np.isnan(scores)
    if unknown.any() and space is not None:
        scores[unknown] = _similarities(space, caption_ids, ids, unknown)
    return np.where(ids < 0, -np.inf, scores).astype(np.float32), ids


def _similarities(space, caption_ids, ids, mask) -> np.ndarray:
    """Inner products in `space` of the (caption, item) pairs where mask is set; NaN without vectors."""
    rows, cols = np.nonzero(mask & (ids >= 0))
    out = np.full(mask.shape, np.nan, dtype=np.float32)
    have_c, caption_matrix = caption_vectors(space, caption_ids[np.unique(rows)])
    items = np.unique(ids[rows, cols])
    vector_rows = list(
        ItemVector.objects.filter(space=space, item_id__in=items.tolist()).values_list("item_id", "shard_id", "row")
    )
    have_i, item_matrix = _gather(vector_rows, space.dim)
    c_pos, i_pos = np.searchsorted(have_c, caption_ids[rows]), np.searchsorted(have_i, ids[rows, cols])
    ok = (c_pos < len(have_c)) & (i_pos < len(have_i))
    ok[ok] &= (have_c[c_pos[ok]] == caption_ids[rows[ok]]) & (have_i[i_pos[ok]] == ids[rows[ok], cols[ok]])
    out[rows[ok], cols[ok]] = np.einsum("nd,nd->n", caption_matrix[c_pos[ok]], item_matrix[i_pos[ok]])
    return out[mask]
