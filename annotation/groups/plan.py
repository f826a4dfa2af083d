"""Checking a groups request, and planning a build into parts.

`create_build` refuses a request that cannot work before anything is stored (field
errors, status 400; a build already running on the same pool, 409). `make_plan`
(on the worker) fixes the caption pool and each modality's item pool as sorted
(id, shard, row) tables in `plan/`, and creates the `GroupsPart` rows: for each
caption chunk, one search part per (modality, item chunk) and one merge.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from ..models import Caption, CaptionVector, Dataset, EmbeddingSpace, GroupsBuild, GroupsPart, ItemVector
from ..models.groups import GROUP_MODALITIES
from . import store

ACTIVE = (GroupsBuild.State.PENDING, GroupsBuild.State.RUNNING)
FETCH_ROWS = 100_000


class GroupsRequestError(Exception):
    """`fields`: field -> messages (400); without fields a state conflict (409)."""

    def __init__(self, code: str, message: str, fields: dict | None = None, status: int | None = None):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or {}
        self.status = status or (400 if self.fields else 409)


def chunk_rows() -> tuple[int, int]:
    return (
        int(getattr(settings, "PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS", 65_536)),
        int(getattr(settings, "PAIRRATE_GROUPS_ITEM_CHUNK_ROWS", 500_000)),
    )


def pool_key(dataset_ids, source_modalities, source_datasets) -> str:
    """One key per caption pool: at most one build runs on it at a time."""
    text = json.dumps([sorted(map(int, dataset_ids)), sorted(source_modalities or []), sorted(source_datasets or [])])
    return hashlib.sha256(text.encode()).hexdigest()


def pool_query(datasets, source_modalities, source_datasets, spaces):
    """Captions of these datasets and filters with a vector in every space."""
    pool = Caption.objects.filter(dataset__in=datasets)
    if source_modalities:
        pool = pool.filter(source_modality__in=source_modalities)
    if source_datasets:
        pool = pool.filter(source_dataset__in=source_datasets)
    for space in spaces:
        pool = pool.filter(pk__in=CaptionVector.objects.filter(space=space).values("caption_id"))
    return pool


def pool_captions(build: GroupsBuild, spaces=None):
    """The build's caption pool (before planning fixes it in `plan/captions.npy`)."""
    return pool_query(
        build.caption_datasets.all(),
        build.caption_source_modalities,
        build.caption_source_datasets,
        build.spaces.all() if spaces is None else spaces,
    )


def _lookup(model, key, label: str, errors: dict, field: str):
    try:
        found = (
            model.objects.filter(pk=int(key)).first()
            if str(key).isdigit()
            else model.objects.filter(name=str(key)).first()
        )
    except (TypeError, ValueError):
        found = None
    if found is None:
        errors.setdefault(field, []).append(f"no {label} {str(key)[:60]!r}")
    return found


def create_build(
    datasets,
    spaces: dict,
    k: int = 16,
    method: str = "exact",
    nlist: int | None = None,
    nprobe: int | None = None,
    seed: int = 0,
    name: str = "",
    caption_source_modalities=None,
    caption_source_datasets=None,
    user=None,
) -> GroupsBuild:
    """Check everything, then store a pending build (the caller dispatches it)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    sources = list(caption_source_modalities or [])
    source_datasets = list(caption_source_datasets or [])
    dataset_rows = [d for d in (_lookup(Dataset, key, "dataset", errors, "datasets") for key in datasets or []) if d]
    if not datasets:
        add("datasets", "choose at least one dataset to draw captions from")
    if not isinstance(spaces, dict) or not spaces:
        add("spaces", f"map at least one target modality ({', '.join(GROUP_MODALITIES)}) to an embedding space")
        spaces = {}
    chosen: dict[str, EmbeddingSpace] = {}
    for modality, key in spaces.items():
        field = f"spaces.{modality}"
        if modality not in GROUP_MODALITIES:
            add(field, f"not a target modality (one of {', '.join(GROUP_MODALITIES)})")
            continue
        space = _lookup(EmbeddingSpace, key, "embedding space", errors, field)
        if space is None:
            continue
        if space.target_modality != modality:
            add(field, f"space {space.name!r} embeds text-{space.target_modality} pairs, not text-{modality}")
            continue
        chosen[modality] = space
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 256:
        add("k", "an integer between 1 and 256")
    if method not in GroupsBuild.Method.values:
        add("method", f"one of {', '.join(GroupsBuild.Method.values)}")
    for field, value in (("nprobe", nprobe), ("nlist", nlist)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1 << 20):
            add(field, "an integer between 1 and 1048576")
    if not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**63:
        add("seed", "a 64-bit integer")
    if len(str(name or "")) > 200:
        add("name", "at most 200 characters")
    if errors:
        raise GroupsRequestError("invalid_groups", "the groups request cannot work", errors)

    for modality, space in chosen.items():
        n_items = ItemVector.objects.filter(space=space, item__modality=modality).count()
        if n_items == 0:
            add(f"spaces.{modality}", f"no {modality} item has a vector in space {space.name!r}")
        elif k > n_items:
            add("k", f"only {n_items} {modality} items have vectors in {space.name!r}; cannot take the top {k}")
        if not pool_query(dataset_rows, sources, source_datasets, [space]).exists():
            add(f"spaces.{modality}", f"no caption of the pool has a vector in space {space.name!r}")
    if not errors and not pool_query(dataset_rows, sources, source_datasets, chosen.values()).exists():
        add("spaces", "no caption of the pool has a vector in every chosen space")
    if errors:
        raise GroupsRequestError("invalid_groups", "the groups request cannot work", errors)

    key = pool_key([d.pk for d in dataset_rows], sources, source_datasets)
    caption_rows, item_rows = chunk_rows()
    with transaction.atomic():
        # Lock the pool's datasets so two requests for one pool cannot both pass the check.
        list(Dataset.objects.select_for_update().filter(pk__in=[d.pk for d in dataset_rows]).order_by("pk"))
        running = GroupsBuild.objects.filter(pool_key=key, state__in=ACTIVE).first()
        if running is not None:
            raise GroupsRequestError("build_running", f"groups build {running.pk} is already running on this pool")
        build = GroupsBuild.objects.create(
            name=name or "",
            pool_key=key,
            caption_source_modalities=sources,
            caption_source_datasets=source_datasets,
            modalities=[m for m in GROUP_MODALITIES if m in chosen],
            k=k,
            method=method,
            nlist=nlist,
            nprobe=nprobe,
            seed=seed,
            caption_chunk_rows=caption_rows,
            item_chunk_rows=item_rows,
            created_by=user if getattr(user, "pk", None) else None,
        )
        build.caption_datasets.set(dataset_rows)
        build.spaces.set(chosen.values())
    return build


def space_of(build: GroupsBuild, modality: str) -> EmbeddingSpace:
    return build.spaces.get(target_modality=modality)


def _table(sql: str, params, columns: int) -> np.ndarray:
    """Rows of a query as one int64 [n, columns] array, fetched in blocks."""
    blocks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            blocks.append(np.array(rows, dtype=np.int64).reshape(-1, columns))
    return np.concatenate(blocks) if blocks else np.zeros((0, columns), np.int64)


def make_plan(build: GroupsBuild) -> dict:
    """Write the plan tables and the part rows (replacing any from an earlier attempt)."""
    spaces = {m: space_of(build, m) for m in build.modalities}
    pool_sql, pool_params = pool_captions(build, list(spaces.values())).values("pk").query.sql_with_params()
    caption_ids = None
    caption_tables = {}
    cv, iv = CaptionVector._meta.db_table, ItemVector._meta.db_table
    item_table = ItemVector._meta.get_field("item").related_model._meta.db_table
    for modality, space in spaces.items():
        table = _table(
            f"SELECT caption_id, shard_id, row FROM {cv} WHERE space_id = %s "
            f"AND caption_id IN ({pool_sql}) ORDER BY caption_id",
            [space.pk, *pool_params],
            3,
        )
        caption_tables[modality] = table
        caption_ids = table[:, 0] if caption_ids is None else np.intersect1d(caption_ids, table[:, 0])
    if caption_ids is None or len(caption_ids) == 0:
        raise ValueError("the caption pool is empty: no caption has a vector in every chosen space")
    store.save_npy(store.plan_path(build.pk, "captions"), caption_ids)
    counts = {"captions": int(len(caption_ids)), "items": {}}
    caption_chunks = -(-len(caption_ids) // build.caption_chunk_rows)
    parts = []
    for modality, space in spaces.items():
        table = caption_tables[modality]
        table = table[np.searchsorted(table[:, 0], caption_ids)]
        store.save_npy(store.plan_path(build.pk, f"{modality}-captions"), table[:, 1:])
        items = _table(
            f"SELECT v.item_id, v.shard_id, v.row FROM {iv} v JOIN {item_table} i ON i.id = v.item_id "
            f"WHERE v.space_id = %s AND i.modality = %s ORDER BY v.item_id",
            [space.pk, modality],
            3,
        )
        if len(items) < build.k:
            raise ValueError(f"only {len(items)} {modality} items have vectors in {space.name!r}; k is {build.k}")
        store.save_npy(store.plan_path(build.pk, f"{modality}-items"), items)
        counts["items"][modality] = int(len(items))
        item_chunks = -(-len(items) // build.item_chunk_rows)
        # item chunk outermost: consecutive parts share an item chunk, which a worker keeps prepared
        parts += [
            GroupsPart(build=build, kind="search", modality=modality, caption_chunk=c, item_chunk=j)
            for j in range(item_chunks)
            for c in range(caption_chunks)
        ]
    parts += [GroupsPart(build=build, kind="merge", caption_chunk=c) for c in range(caption_chunks)]
    counts.update(caption_chunks=caption_chunks, search_parts=len(parts) - caption_chunks, merge_parts=caption_chunks)
    with transaction.atomic():
        build.parts.all().delete()
        GroupsPart.objects.bulk_create(parts, batch_size=5000)
    return counts
