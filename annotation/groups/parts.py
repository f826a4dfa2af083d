"""What a groups part computes: thin over sampling.retrieval.

A search part reads its caption chunk and item chunk from the memory-mapped shards
the plan names (peak memory: one caption chunk and one item chunk, whatever the pool
size), searches exactly (chunked GEMM + top-k, ties by the smaller item id) or with
IVF, and writes its top-k as one atomic `.npz`. A merge combines the item chunks of
one caption chunk into its groups. Both are functions of the plan alone, so a part
redone after a worker died writes the same bytes.
"""

from __future__ import annotations

import numpy as np

from sampling import retrieval

from .. import storage
from ..models import GroupsBuild, GroupsPart, VectorShard
from . import store

RECALL_SAMPLE = 1000  # captions whose IVF groups are checked against exact search


def gather(table: np.ndarray, dim: int) -> np.ndarray:
    """Vectors for rows (shard id, row), read shard by shard in row order."""
    table = np.asarray(table, dtype=np.int64)
    out = np.empty((len(table), dim), dtype=np.float32)
    if not len(table):
        return out
    for shard_id in np.unique(table[:, 0]):
        where = np.flatnonzero(table[:, 0] == shard_id)
        where = where[np.argsort(table[where, 1], kind="stable")]
        out[where] = shard_matrix(int(shard_id))[table[where, 1]]
    return out


_shards: dict = {}


def shard_matrix(shard_id: int) -> np.ndarray:
    """A vector shard, memory-mapped once per worker (shards are written once, never changed)
    from storage.local_path: the file itself, or the machine's cached copy of the object, so
    a part fetches only the shards its rows lie in."""
    key = (storage.get_store().describe(), shard_id)
    if key not in _shards:
        if len(_shards) > 256:
            _shards.clear()
        path = VectorShard.objects.values_list("path", flat=True).get(pk=shard_id)
        _shards[key] = np.load(storage.local_path(path), mmap_mode="r")
    return _shards[key]


def caption_slice(build: GroupsBuild, start: int, stop: int) -> np.ndarray:
    return store.load_npy(store.plan_path(build.pk, "captions"))[start:stop]


def caption_chunk_bounds(build: GroupsBuild, chunk: int) -> tuple[int, int]:
    n = len(store.load_npy(store.plan_path(build.pk, "captions")))
    return chunk * build.caption_chunk_rows, min((chunk + 1) * build.caption_chunk_rows, n)


def item_chunk_count(build: GroupsBuild, modality: str) -> int:
    n = len(store.load_npy(store.plan_path(build.pk, f"{modality}-items")))
    return -(-n // build.item_chunk_rows)


_dims: dict = {}


def space_dim(build: GroupsBuild, modality: str) -> int:
    key = (build.pk, modality)
    if key not in _dims:
        _dims[key] = build.spaces.get(target_modality=modality).dim
    return _dims[key]


_prepared: dict = {}


def prepared_items(build: GroupsBuild, modality: str, chunk: int, dim: int) -> retrieval.PreparedPool:
    """The item chunk prepared for search (on the GPU when there is one), kept in the worker:
    parts are dispatched item chunk by item chunk, so the next part usually reuses it."""
    key = (build.pk, modality, chunk, build.method, build.nlist, build.nprobe, build.seed)
    if key not in _prepared:
        _prepared.clear()
        table = store.load_npy(store.plan_path(build.pk, f"{modality}-items"))
        rows = np.asarray(table[chunk * build.item_chunk_rows : (chunk + 1) * build.item_chunk_rows])
        _prepared[key] = retrieval.PreparedPool(
            gather(rows[:, 1:], dim),
            ids=rows[:, 0],
            method=build.method,
            nlist=build.nlist,
            nprobe=build.nprobe,
            seed=build.seed,
        )
    return _prepared[key]


def search_part(build: GroupsBuild, part: GroupsPart) -> dict:
    dim = space_dim(build, part.modality)
    start, stop = caption_chunk_bounds(build, part.caption_chunk)
    table = store.load_npy(store.plan_path(build.pk, f"{part.modality}-captions"))
    queries = gather(table[start:stop], dim)
    pool = prepared_items(build, part.modality, part.item_chunk, dim)
    scores, ids = pool.search(queries, min(build.k, pool.size))
    store.save_npz(
        store.part_path(build.pk, part.modality, part.caption_chunk, part.item_chunk), scores=scores, ids=ids
    )
    return {"captions": stop - start, "items": pool.size}


def merge_chunk(build: GroupsBuild, chunk: int) -> dict:
    """The caption chunk's groups: per modality, the top-k over all item chunks."""
    start, stop = caption_chunk_bounds(build, chunk)
    arrays = {"caption_ids": np.asarray(caption_slice(build, start, stop))}
    for modality in build.modalities:
        results = [
            store.load_npz(store.part_path(build.pk, modality, chunk, j))
            for j in range(item_chunk_count(build, modality))
        ]
        scores, ids = retrieval.merge_topk([(r["scores"], r["ids"]) for r in results], build.k)
        arrays[f"{modality}__ids"], arrays[f"{modality}__scores"] = ids, scores
    store.save_npz(store.chunk_path(build.pk, chunk), **arrays)
    return {"captions": stop - start}


def exact_topk(build: GroupsBuild, modality: str, positions: np.ndarray) -> np.ndarray:
    """Exact top-k item ids for the captions at `positions` of the pool, chunk by chunk."""
    dim = space_dim(build, modality)
    table = store.load_npy(store.plan_path(build.pk, f"{modality}-captions"))
    queries = gather(np.asarray(table[positions]), dim)
    items = store.load_npy(store.plan_path(build.pk, f"{modality}-items"))
    results = []
    for start in range(0, len(items), build.item_chunk_rows):
        rows = np.asarray(items[start : start + build.item_chunk_rows])
        pool = retrieval.PreparedPool(gather(rows[:, 1:], dim), ids=rows[:, 0])
        results.append(pool.search(queries, min(build.k, pool.size)))
    return retrieval.merge_topk(results, build.k)[1]


def recall(build: GroupsBuild) -> dict:
    """IVF builds: recall@k against exact search on a seeded random sample of captions."""
    n = len(store.load_npy(store.plan_path(build.pk, "captions")))
    rng = np.random.default_rng(build.seed)
    positions = np.sort(rng.choice(n, size=min(n, RECALL_SAMPLE), replace=False))
    chunks = positions // build.caption_chunk_rows
    out = {}
    for modality in build.modalities:
        found = np.empty((len(positions), build.k), dtype=np.int64)
        for chunk in np.unique(chunks):
            data = store.load_npz(store.chunk_path(build.pk, int(chunk)))
            where = np.flatnonzero(chunks == chunk)
            found[where] = data[f"{modality}__ids"][positions[where] - chunk * build.caption_chunk_rows]
        out[modality] = {
            "recall_at_k": round(retrieval.recall_at_k(found, exact_topk(build, modality, positions)), 4),
            "sample": int(len(positions)),
            "k": build.k,
        }
    return out
