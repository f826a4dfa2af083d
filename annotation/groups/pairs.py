"""A rating project from pairs you already have: a list of (caption, candidate items).

Accepted tables (CSV, JSONL or Parquet, read by annotation.importing.tables):
- one row per caption: `caption_id` and `item_ids` (a list, best first; JSONL/Parquet);
- one row per pair: `caption_id`, `item_id`, optional `rank` (0-based; else file order);
- the E-MM1 1M `triplets.csv`: `encord_text_id`, `annotated_modality`,
  `encord_annotated_id` (rows of the project's modality are taken).
Ids are external ids of captions and items of the project's datasets. Errors name the
file, line and column; on any error nothing is stored. The pairs become an imported
groups build (ranks as given, similarities from the project's space) and the project
is linked to it, so launching it rates those pairs: per caption the
`candidates_per_task` most similar of them in the project's space (all of them when
that is their number); captions with fewer, or without a vector in the space, get no
task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from ..importing.emm1 import PAIRED_MODALITY_NAMES
from ..importing.errors import ErrorCollector
from ..importing.tables import read_table
from ..models import Caption, GroupsBuild, Item, Project, ProjectGroups
from ..pipeline.stages import caption_pool
from . import export, plan, store
from .importing import write_chunks


def read_pairs(path: Path, project: Project) -> dict[int, list[int]]:
    """caption id -> item ids in rank order."""
    name = path.name
    table = read_table(path, name)
    errors = ErrorCollector()
    datasets = list(project.caption_datasets.all())
    captions = dict(Caption.objects.filter(dataset__in=datasets).values_list("external_id", "pk"))
    items = dict(
        Item.objects.filter(dataset__in=datasets, modality=project.target_modality).values_list("external_id", "pk")
    )
    columns = table.columns
    if "encord_text_id" in columns:  # E-MM1 triplets.csv
        keep = [
            PAIRED_MODALITY_NAMES.get(str(m)) == project.target_modality for m in table.column("annotated_modality")
        ]
        caption_col, item_col, ranks = "encord_text_id", "encord_annotated_id", None
    else:
        keep = [True] * len(table)
        caption_col = "caption_id"
        item_col = "item_ids" if "item_ids" in columns else "item_id"
        ranks = table.column("rank") if "rank" in columns else None
    for column in (caption_col, item_col):
        if column not in columns:
            errors.add(name, 1, column, "missing column")
    errors.raise_if_any()
    found: dict[int, list[tuple[int, int]]] = {}
    for row, (caption, value, line) in enumerate(zip(table.column(caption_col), table.column(item_col), table.lines)):
        if not keep[row]:
            continue
        caption_id = captions.get(str(caption) if caption is not None else "")
        if caption_id is None:
            errors.add(name, line, caption_col, f"no caption {str(caption)[:60]!r} in the project's datasets")
            continue
        values = value if isinstance(value, list) else [value]
        for position, item in enumerate(values):
            item_id = items.get(str(item) if item is not None else "")
            if item_id is None:
                errors.add(
                    name,
                    line,
                    item_col,
                    f"no {project.target_modality} item {str(item)[:60]!r} in the project's datasets",
                )
                continue
            rank = position
            if ranks is not None:
                try:
                    rank = int(ranks[row])
                except (TypeError, ValueError):
                    errors.add(name, line, "rank", "an integer")
                    continue
            found.setdefault(caption_id, []).append((rank, item_id))
        if errors.full:
            break
    if not found and not errors.errors:
        errors.add(name, None, None, f"no {project.target_modality} pair in the file")
    for caption_id, ranked in found.items():
        if len({i for _, i in ranked}) != len(ranked):
            errors.add(name, None, caption_col, f"caption {caption_id} lists an item twice")
    errors.raise_if_any()
    return {c: [i for _, i in sorted(ranked)] for c, ranked in sorted(found.items())}


def project_from_pairs(path: Path, project: Project, user=None) -> GroupsBuild:
    """Store the pairs as a build and link the (draft) project to it; all or nothing."""
    if project.state != Project.State.DRAFT:
        raise plan.GroupsRequestError("not_draft", f"project {project.name!r} is {project.state}")
    pairs = read_pairs(Path(path), project)
    k = max(len(v) for v in pairs.values())
    caption_ids = np.fromiter(pairs, dtype=np.int64, count=len(pairs))
    ids = np.full((len(pairs), k), -1, dtype=np.int64)
    for row, items in enumerate(pairs.values()):
        ids[row, : len(items)] = items
    caption_rows, item_rows = plan.chunk_rows()
    with transaction.atomic():
        build = GroupsBuild.objects.create(
            name=f"pairs for {project.name}"[:200],
            source=GroupsBuild.Source.IMPORTED,
            pool_key=f"pairs:{project.pk}:{timezone.now().timestamp()}",
            modalities=[project.target_modality],
            k=k,
            caption_chunk_rows=caption_rows,
            item_chunk_rows=item_rows,
            state=GroupsBuild.State.RUNNING,
            created_by=user if getattr(user, "pk", None) else None,
            counts={"captions": len(pairs), "pairs": int((ids >= 0).sum()), "imported_from": Path(path).name},
        )
        build.caption_datasets.set(project.caption_datasets.all())
    try:
        write_chunks(build, caption_ids, {project.target_modality: ids}, scores=None)
        output_path, files = export.export_build(build)
        with transaction.atomic():
            GroupsBuild.objects.filter(pk=build.pk).update(
                state=GroupsBuild.State.SUCCEEDED,
                progress=1.0,
                output_path=output_path,
                files=files,
                finished_at=timezone.now(),
            )
            ProjectGroups.objects.update_or_create(project=project, defaults={"build": build})
            # the curate stage then keeps its whole pool, so every caption with pairs is sampled
            Project.objects.filter(pk=project.pk).update(
                sample_size=max(caption_pool(project).count(), 1), k=max(1, min(k, 256))
            )
    except BaseException:
        store.clear(build.pk)
        ProjectGroups.objects.filter(build=build).delete()
        build.delete()
        raise
    build.refresh_from_db()
    return build
