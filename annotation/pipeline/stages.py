"""What each launch stage computes. Thin over sampling/; outputs go to artifacts.

Every stage is a deterministic function of the project (its seed included) and the
previous stage's artifact, so a redelivered or retried stage recomputes the same
result and overwrites it: nothing is duplicated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from django.conf import settings
from django.db import transaction

from sampling import curation, dedup, nsfw, retrieval, statistics

from ..models import Caption, Item, Project, ScreenStatus, Task, TaskCandidate
from .. import planner
from ..vectors import caption_vectors, item_vectors
from . import artifacts, task_rows

log = logging.getLogger(__name__)
Report = Callable[[float], None]
# Items per match part: each part is one top-k search that a `gpu` worker runs.
MATCH_PART_ROWS = 1_000_000


@dataclass
class Part:
    """One unit of a fanned-out stage, run by its own Celery task."""

    stage: str
    index: int
    queue: str  # "cpu" or "gpu"


# ---- curate ---------------------------------------------------------------


def caption_pool(project: Project):
    pool = Caption.objects.filter(dataset__in=project.caption_datasets.all(), vectors__space=project.space)
    if project.caption_source_modalities:
        pool = pool.filter(source_modality__in=project.caption_source_modalities)
    if project.caption_source_datasets:
        pool = pool.filter(source_dataset__in=project.caption_source_datasets)
    return pool


def auto_clusters(n: int) -> list[int]:
    """Level sizes when the project gives none, in the proportions of Vo et al.: about
    50 points per level-1 cluster, each level above ten times coarser, up to 4 levels."""
    levels = [max(2, n // 50)]
    while levels[-1] >= 200 and len(levels) < 4:
        levels.append(levels[-1] // 10)
    return levels


def diverse_sample(vectors: np.ndarray, quota: int, curation_settings: dict, seed: int) -> np.ndarray:
    """Row indices of a balanced hierarchical k-means sample (Vo et al. 2024)."""
    if quota >= len(vectors):
        return np.arange(len(vectors))
    clusters = [int(c) for c in curation_settings.get("clusters") or auto_clusters(len(vectors))]
    clusters = [min(c, len(vectors)) for c in clusters]
    for upper in range(1, len(clusters)):  # each level clusters the previous level's centroids
        clusters[upper] = min(clusters[upper], clusters[upper - 1])
    levels = curation.hierarchical_kmeans(
        vectors,
        clusters,
        resampling_steps=int(curation_settings.get("resampling_steps", 2)),
        sample_sizes=int(curation_settings.get("sample_size", 10)),
        iterations=int(curation_settings.get("iterations", 10)),
        seed=seed,
        # Batched k-means++ seeding: log2(k) GEMM rounds instead of k sequential picks
        # (6x faster on a 12,500 x 256 pool, inertia within a few % of greedy seeding).
        level1_init=curation_settings.get("level1_init", "kmeans++batched"),
    )
    return curation.balanced_sample(levels, quota, strategy=curation_settings.get("pick", "random"), seed=seed)


def curate(project: Project, report: Report) -> dict:
    """Split the sample evenly across caption sources, then sample diversely within each."""
    rows = np.array(list(caption_pool(project).order_by("id").values_list("id", "source_modality")), dtype=object)
    if len(rows) == 0:
        raise ValueError("the caption pool is empty: no caption with a vector in this space matches the filters")
    ids, sources = rows[:, 0].astype(np.int64), rows[:, 1].astype(str)
    names = sorted(set(sources))
    sizes = np.array([(sources == name).sum() for name in names], dtype=np.int64)
    target = min(project.sample_size, len(ids))
    quotas = curation.water_fill(sizes, np.zeros(len(names), dtype=np.int64), np.array([target]))
    selected, per_source = [], {}
    for index, (name, quota) in enumerate(zip(names, quotas)):
        group_ids = ids[sources == name]
        vector_ids, vectors = caption_vectors(project.space, group_ids)
        picked = vector_ids[diverse_sample(vectors, int(quota), project.curation, project.seed + index)]
        selected.append(picked)
        per_source[name or "unknown"] = {"pool": int(len(group_ids)), "sampled": int(len(picked))}
        report((index + 1) / len(names))
    caption_ids = np.sort(np.concatenate(selected))
    artifacts.save(project.id, "curate", caption_ids=caption_ids)
    return {"pool": int(len(ids)), "sampled": int(len(caption_ids)), "per_source": per_source}


# ---- filter ---------------------------------------------------------------

_scorers: dict = {}


def scorer_for(backend: str):
    """One scorer per worker process: models stay loaded between tasks."""
    if backend == "auto":
        backend = "detoxify" if settings.PAIRRATE_DETOXIFY_CHECKPOINT else "lexicon"
    if backend not in _scorers:
        options = {}
        if backend == "detoxify":
            options = {
                "checkpoint": settings.PAIRRATE_DETOXIFY_CHECKPOINT,
                "config_dir": settings.PAIRRATE_DETOXIFY_CONFIG_DIR,
            }
        _scorers[backend] = nsfw.load_scorer(backend, **options)
    return _scorers[backend]


def filter_thresholds(scorer, overrides: dict) -> dict[str, float]:
    """Every category the scorer scores at the default threshold, then the project's own
    (categories or backend labels; 1 switches one off)."""
    return {
        **nsfw.default_thresholds(nsfw.scorer_categories(scorer.labels)),
        **{k: float(v) for k, v in (overrides or {}).items()},
    }


def filter_captions(project: Project, report: Report) -> dict:
    """Score the curated captions per category; keep those under every threshold. The
    dropped ones are listed with their scores and reasons (FilteredCaption, in the
    admin), replacing the rows of an earlier run of this stage."""
    from ..models import FilteredCaption

    caption_ids = artifacts.load(project.id, "curate")["caption_ids"]
    if project.nsfw_backend == "none":
        FilteredCaption.objects.filter(project=project).delete()
        artifacts.save(project.id, "filter", caption_ids=caption_ids)
        return {"scored": 0, "kept": int(len(caption_ids)), "dropped": 0}
    texts = dict(Caption.objects.filter(id__in=caption_ids.tolist()).values_list("id", "text"))
    ordered = [texts[int(i)] for i in caption_ids]
    scorer = scorer_for(project.nsfw_backend)
    scores = nsfw.with_categories(scorer.score(ordered))
    thresholds = filter_thresholds(scorer, project.nsfw_thresholds)
    keep = nsfw.filter_mask(scores, thresholds)
    report(0.8)
    dropped = np.flatnonzero(~keep)
    dropped_scores = {label: values[dropped] for label, values in scores.items()}
    explain = getattr(scorer, "explain", None)
    matches = explain([ordered[i] for i in dropped]) if explain is not None else None
    reasons = nsfw.drop_reasons(dropped_scores, thresholds, matches)
    with transaction.atomic():
        FilteredCaption.objects.filter(project=project).delete()
        FilteredCaption.objects.bulk_create(
            (
                FilteredCaption(
                    project=project,
                    caption_id=int(caption_ids[i]),
                    reason=reason[:300],
                    scores={k: round(float(v[j]), 4) for k, v in dropped_scores.items()},
                )
                for j, (i, reason) in enumerate(zip(dropped, reasons))
            ),
            batch_size=2000,
        )
    report(1.0)
    arrays = {f"score_{label}": values[keep] for label, values in scores.items()}
    artifacts.save(project.id, "filter", caption_ids=caption_ids[keep], **arrays)
    by_category = {c: int((scores[c] > thresholds[c]).sum()) for c in nsfw.CATEGORIES if c in thresholds}
    return {
        "scored": int(len(caption_ids)),
        "kept": int(keep.sum()),
        "dropped": int(len(dropped)),
        "dropped_by_category": by_category,
        "thresholds": thresholds,
    }


# ---- match (fanned out over item chunks) ----------------------------------


def match_parts(project: Project) -> list[Part]:
    n_items = project.space.itemvector_set.filter(item__modality=project.target_modality).count()
    n_items -= len(excluded_items(project))
    return [Part("match", i, "gpu") for i in range(max(1, -(-n_items // MATCH_PART_ROWS)))]


def excluded_items(project: Project) -> tuple[int, ...]:
    """Candidate items left out of matching: media that failed screening, unless the
    project sets include_failed_media (annotation.screening)."""
    if project.include_failed_media:
        return ()
    return tuple(
        Item.objects.filter(
            vectors__space=project.space, modality=project.target_modality, screen_status=ScreenStatus.FAILED
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


_item_cache: dict = {}


def cached_item_vectors(space, excluded: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors per space less `excluded` items, kept in the (gpu) worker between
    tasks; keyed by the space's shards (a re-import invalidates it) and the exclusions."""
    key = (space.id, tuple(space.shards.filter(side="items").order_by("id").values_list("id", flat=True)), excluded)
    if key not in _item_cache:
        _item_cache.clear()
        ids, vectors = item_vectors(space)
        if excluded:
            keep = ~np.isin(ids, np.asarray(excluded, dtype=np.int64))
            ids, vectors = ids[keep], vectors[keep]
        _item_cache[key] = ids, vectors
    return _item_cache[key]


_query_cache: dict = {}


def cached_query_vectors(project: Project) -> np.ndarray:
    """The filtered captions' vectors, gathered once per worker and filter result: a big
    pool is matched in many parts, and a worker often runs several of them."""
    filtered = artifacts.path(project.id, "filter")
    key = (project.id, project.space_id, filtered.stat().st_mtime_ns)
    if key not in _query_cache:
        _query_cache.clear()
        _query_cache[key] = caption_vectors(project.space, artifacts.load(project.id, "filter")["caption_ids"])[1]
    return _query_cache[key]


def match_part(project: Project, index: int, report: Report) -> dict:
    from ..groups.candidates import candidates_for, source_of

    build = source_of(project)
    if build is not None:  # candidates from a groups build instead of a search (annotation.groups)
        caption_ids = artifacts.load(project.id, "filter")["caption_ids"]
        scores, ids = candidates_for(
            build, project.target_modality, caption_ids, project.k if index == 0 else 0, project.space
        )
        dropped = np.isin(ids, excluded_items(project))
        artifacts.save(
            project.id,
            f"match-{index}",
            scores=np.where(dropped, -np.inf, scores).astype(np.float32),
            item_ids=np.where(dropped, -1, ids),
        )
        return {"queries": int(len(caption_ids)), "items": 0, "groups_build": build.pk if index == 0 else 0}
    queries = cached_query_vectors(project)
    item_ids, items = cached_item_vectors(project.space, excluded_items(project))
    start, stop = index * MATCH_PART_ROWS, min((index + 1) * MATCH_PART_ROWS, len(item_ids))
    k = min(project.k, stop - start)
    scores, rows = retrieval.search(
        queries, items[start:stop], k=k, progress=lambda done: report(done / max(len(queries), 1))
    )
    artifacts.save(project.id, f"match-{index}", scores=scores, item_ids=item_ids[start:stop][rows])
    return {"queries": int(len(queries)), "items": int(stop - start)}


def match_merge(project: Project, parts: int) -> dict:
    results = [(p["scores"], p["item_ids"]) for p in (artifacts.load(project.id, f"match-{i}") for i in range(parts))]
    k = min(project.k, sum(r[0].shape[1] for r in results))
    scores, item_ids = retrieval.merge_topk(results, k)
    caption_ids = artifacts.load(project.id, "filter")["caption_ids"]
    artifacts.save(project.id, "match", caption_ids=caption_ids, scores=scores, item_ids=item_ids)
    return {"captions": int(len(caption_ids)), "k": int(k), "parts": parts}


# ---- dedup ----------------------------------------------------------------


def deduplicate(project: Project, report: Report) -> dict:
    """Greedy de-duplication, except for the audit share of captions: their candidates are
    drawn uniformly from their top-k (no item cap), so per-rank estimates rest on them."""
    match = artifacts.load(project.id, "match")
    m = project.candidates_per_task
    audit = statistics.audit_rows(len(match["caption_ids"]), project.audit_share, project.seed)
    result = dedup.greedy_dedup(match["item_ids"][~audit], match["scores"][~audit], m=m, cap=project.item_cap)
    chosen = np.full((len(audit), m), -1, dtype=np.int64)
    chosen_rank = np.full((len(audit), m), -1, dtype=np.int64)
    chosen[~audit], chosen_rank[~audit] = result.chosen, result.chosen_rank
    if audit.any():
        chosen[audit], chosen_rank[audit] = statistics.uniform_candidates(match["item_ids"][audit], m, project.seed)
    rows = np.arange(len(chosen))[:, None]
    similarity = np.where(chosen_rank >= 0, match["scores"][rows, np.maximum(chosen_rank, 0)], np.nan)
    artifacts.save(
        project.id,
        "dedup",
        caption_ids=match["caption_ids"],
        item_ids=chosen,
        ranks=chosen_rank,
        similarity=similarity.astype(np.float32),
        audit=audit,
    )
    stats = {k: v for k, v in result.stats.items() if k != "dropped_caption_ids"}
    stats["dropped_captions"] = len(result.stats.get("dropped_caption_ids", []))
    stats["audit_captions"] = int(audit.sum())
    return stats


# ---- create tasks ---------------------------------------------------------


def create_tasks(project: Project, report: Report) -> dict:
    """Create one task per caption that got all its candidates (COPY on PostgreSQL). Re-running
    replaces the tasks (same seed, same rows) as long as nobody has rated yet."""
    chosen = artifacts.load(project.id, "dedup")
    filtered = artifacts.load(project.id, "filter")
    score_labels = [k for k in filtered if k.startswith("score_")]
    score_row = {int(c): i for i, c in enumerate(filtered["caption_ids"])}
    complete = (chosen["item_ids"] >= 0).all(axis=1)
    caption_ids = chosen["caption_ids"][complete]
    paired = dict(Caption.objects.filter(id__in=caption_ids.tolist()).values_list("id", "paired_item_id"))
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        TaskCandidate.objects.filter(task__project=project).delete()
        Task.objects.filter(project=project).delete()
        nsfw_scores = [
            {k[6:]: round(float(filtered[k][score_row[int(c)]]), 4) for k in score_labels} for c in caption_ids
        ]
        items, ranks, sims = (chosen[key][complete] for key in ("item_ids", "ranks", "similarity"))
        candidates = task_rows.write_tasks(project.id, caption_ids, paired, nsfw_scores, items, ranks, sims)
        audit = chosen["audit"][complete] if "audit" in chosen else np.zeros(len(caption_ids), dtype=bool)
        for start in range(0, len(audit), 50_000):  # positions of audit tasks, in bounded IN lists
            positions = (np.flatnonzero(audit[start : start + 50_000]) + start).tolist()
            if positions:
                Task.objects.filter(project=project, position__in=positions).update(is_audit=True)
    planner.analyze(Task, TaskCandidate)  # the claim query plans from these statistics next
    report(1.0)
    return {
        "tasks": len(caption_ids),
        "candidates": candidates,
        "audit_tasks": int(audit.sum()),
        "captions_without_enough_candidates": int((~complete).sum()),
    }


# ---- media (fanned out: renders on gpu, posters and waveforms on cpu) ------

MEDIA_PART_ITEMS = 64
MEDIA_QUEUES = {"point_cloud": "gpu", "video": "cpu", "audio": "cpu"}


def media_parts(project: Project) -> list[Part]:
    """Split the candidate items with derivable media into parts, once: the split is
    saved as an artifact so each part reads its own items instead of recomputing it."""
    modalities = list(MEDIA_QUEUES)
    rows = np.array(
        list(
            TaskCandidate.objects.filter(task__project=project, item__modality__in=modalities)
            .values_list("item__modality", "item_id")
            .distinct()
        ),
        dtype=object,
    ).reshape(-1, 2)
    items, part_starts, part_modalities, parts, offset = [], [], [], [], 0
    for code, modality in enumerate(modalities):
        ids = np.sort(rows[rows[:, 0] == modality, 1].astype(np.int64))
        for start in range(0, len(ids), MEDIA_PART_ITEMS):
            part_starts.append(offset + start)
            part_modalities.append(code)
            parts.append(Part("media", len(parts), MEDIA_QUEUES[modality]))
        items.append(ids)
        offset += len(ids)
    all_items = np.concatenate(items) if items else np.zeros(0, np.int64)
    artifacts.save(
        project.id,
        "media-parts",
        items=all_items,
        starts=np.array(part_starts + [len(all_items)], dtype=np.int64),
        modalities=np.array(part_modalities, dtype=np.int64),
    )
    return parts


def media_part_items(project: Project, index: int) -> tuple[str, list[Item]]:
    """The modality and items of media part `index`, as media_parts split them."""
    split = artifacts.load(project.id, "media-parts")
    if not 0 <= index < len(split["modalities"]):
        raise IndexError(f"media part {index} does not exist")
    chunk = split["items"][split["starts"][index] : split["starts"][index + 1]].tolist()
    modality = list(MEDIA_QUEUES)[int(split["modalities"][index])]
    return modality, list(Item.objects.filter(id__in=chunk).order_by("id"))


def media_part(project: Project, index: int, report: Report) -> dict:
    """Make the derived files of one media part. Sources are read through storage (media
    referenced in place in the bucket through the cache, never copied into storage); items
    whose files are already made are skipped before their media is read; remote (http, or
    s3 without the object store), missing and unsafe (outside media storage) media are
    counted, never opened."""
    import av

    from . import derived_media

    modality, items = media_part_items(project, index)
    counts = {"modality": modality, "items": len(items), "remote": 0, "missing": 0, "unsafe": 0, "made": 0}
    sources = []
    for item in items:
        if unreadable_media(item.media, counts):
            continue
        if derived_media.already_made(modality, item.id):
            continue
        path = media_source(item, counts)
        if path is not None:
            sources.append((item, path))
    if modality == "point_cloud":
        counts.update(derived_media.render_point_clouds([(i.id, p) for i, p in sources]))
        return counts
    for done, (item, path) in enumerate(sources, start=1):
        targets = derived_media.derived_paths(modality, item.id)
        try:
            if modality == "video":
                derived_media.video_poster_and_preview(path, targets["poster"], targets["preview"])
            else:
                derived_media.audio_waveform(path, targets["waveform"])
        except (ValueError, OSError, av.error.FFmpegError) as exc:
            # A file that does not decode (a project may include failed media) is counted
            # and shown without a poster or waveform; it never fails the whole launch.
            log.warning("media part %s: item %s does not decode: %s", index, item.id, exc)
            counts["broken"] = counts.get("broken", 0) + 1
        else:
            counts["made"] += 1
        report(done / len(sources))
    return counts


def unreadable_media(media: str, counts: dict) -> bool:
    """True (and counted) for media this worker never reads: none, remote URLs (s3 ones too
    unless the object store is configured), and paths that leave media storage."""
    from ..media_paths import UnsafeMediaPath, check_relative, is_remote_url
    from ..media_sources import is_remote

    if not media or is_remote(media):
        counts["remote"] += 1
        return True
    if not is_remote_url(media):
        try:
            check_relative(media)
        except UnsafeMediaPath:
            counts["unsafe"] += 1
            return True
    return False


def media_source(item: Item, counts: dict) -> Path | None:
    """A local file of the item's media (a cached copy on the object store), or None, counted
    as missing (not there, or the bucket refuses it) or unsafe (a link out of media storage)."""
    from .. import storage
    from ..media_paths import UnsafeMediaPath

    try:
        path = storage.local_media(item.media)
    except UnsafeMediaPath:
        counts["unsafe"] += 1
        return None
    except storage.StorageUnavailable:
        raise  # an outage: the part fails and is retried
    except (FileNotFoundError, storage.StorageError) as exc:
        log.warning("media of item %s cannot be read: %s", item.id, exc)
        counts["missing"] += 1
        return None
    if not path.is_file():
        counts["missing"] += 1
        return None
    return path
