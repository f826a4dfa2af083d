"""Project settings that cannot work, as field errors, checked on create and at launch."""

from __future__ import annotations

from django.conf import settings

from sampling import nsfw

from ..models import Caption, ItemVector, ScreenStatus

NSFW_BACKENDS = ("auto", "lexicon", "detoxify", "profanity", "none")
PICK_STRATEGIES = ("random", "closest")


def project_errors(data: dict) -> dict[str, list[str]]:
    """`data`: project fields (model instances for space, a list for caption_datasets)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    space, target = data.get("space"), data.get("target_modality")
    datasets = list(data.get("caption_datasets") or [])
    m, k = int(data.get("candidates_per_task", 3)), int(data.get("k", 16))
    if not datasets:
        add("caption_datasets", "choose at least one dataset to draw captions from")
    if space is not None and target and space.target_modality != target:
        add("target_modality", f"space {space.name!r} embeds text-{space.target_modality} pairs, not {target}")
    if m > k:
        add("candidates_per_task", f"cannot choose {m} candidates from the top {k}")
    if int(data.get("annotators_per_task", 1)) not in (1, 3):
        add("annotators_per_task", "use 1 or 3 (consensus)")
    if not isinstance(data.get("include_failed_media", False), bool):
        add("include_failed_media", "true or false")
    _check_nsfw(data, add)
    _check_curation(data.get("curation") or {}, add)
    _check_audit(data.get("audit_share", 0.0), add)
    if space is None or errors.get("target_modality") or not datasets:
        return errors

    vectors = ItemVector.objects.filter(space=space, item__modality=space.target_modality)
    n_items = vectors.count()
    if n_items == 0:
        add("target_modality", f"no {space.target_modality} item has a vector in space {space.name!r}")
        return errors
    if not data.get("include_failed_media"):  # the match stage leaves failed media out
        failed = vectors.filter(item__screen_status=ScreenStatus.FAILED).count()
        n_items -= failed
        if n_items == 0:
            add(
                "include_failed_media",
                f"every {space.target_modality} item in {space.name!r} failed media "
                "screening; include failed media or fix the files",
            )
            return errors
    pool = Caption.objects.filter(dataset__in=datasets, vectors__space=space)
    if data.get("caption_source_modalities"):
        pool = pool.filter(source_modality__in=data["caption_source_modalities"])
    if data.get("caption_source_datasets"):
        pool = pool.filter(source_dataset__in=data["caption_source_datasets"])
    pool_size = pool.count()
    sample_size = int(data.get("sample_size") or 0)
    if sample_size > pool_size:
        add(
            "sample_size",
            f"the caption pool holds {pool_size} captions with vectors in {space.name!r}; cannot sample {sample_size}",
        )
    if k > n_items:
        add("k", f"only {n_items} {space.target_modality} items have vectors in {space.name!r}")
    cap = int(data.get("item_cap") or 0)
    if cap and cap * n_items < sample_size * m:
        add(
            "item_cap",
            f"a cap of {cap} over {n_items} items allows {cap * n_items} candidate slots; "
            f"{sample_size} captions x {m} candidates need {sample_size * m}",
        )
    return errors


def _check_nsfw(data: dict, add) -> None:
    backend = data.get("nsfw_backend", "auto")
    if backend not in NSFW_BACKENDS:
        add("nsfw_backend", f"choose one of {NSFW_BACKENDS}")
    elif backend == "detoxify" and not settings.PAIRRATE_DETOXIFY_CHECKPOINT:
        add("nsfw_backend", "no Detoxify checkpoint is configured (PAIRRATE_DETOXIFY_CHECKPOINT)")
    thresholds = data.get("nsfw_thresholds") or {}
    if not isinstance(thresholds, dict):
        add("nsfw_thresholds", "a mapping of label to threshold")
        return
    if backend == "auto":
        backend = "detoxify" if settings.PAIRRATE_DETOXIFY_CHECKPOINT else "lexicon"
    # What each backend scores (detoxify: every category; its 'original' model lacks
    # sexual_explicit, which the filter stage reports when it loads the model).
    known = {"lexicon": set(nsfw.CATEGORIES), "profanity": {"profanity"}}.get(
        backend, set(nsfw.CATEGORIES) | set(nsfw.LABEL_CATEGORIES)
    )
    for label, value in thresholds.items():
        if label not in known:
            add("nsfw_thresholds", f"the {backend} backend scores no {label!r}; use one of {sorted(known)}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            add("nsfw_thresholds", f"threshold for {label!r} must be a number between 0 and 1")


def _check_curation(curation: dict, add) -> None:
    if not isinstance(curation, dict):
        add("curation", "an object")
        return
    clusters = curation.get("clusters") or []
    if not isinstance(clusters, list) or not all(isinstance(c, int) and c >= 1 for c in clusters):
        add("curation", "clusters must be a list of positive integers, one per level")
    elif any(upper > lower for lower, upper in zip(clusters, clusters[1:])):
        add("curation", "each level must have at most as many clusters as the level below it")
    for key in ("resampling_steps", "sample_size", "iterations"):
        value = curation.get(key)
        if value is not None and (not isinstance(value, int) or value < (1 if key != "resampling_steps" else 0)):
            add("curation", f"{key} must be a positive integer")
    if curation.get("pick", "random") not in PICK_STRATEGIES:
        add("curation", f"pick must be one of {PICK_STRATEGIES}")


def _check_audit(share, add) -> None:
    """audit_share (docs/statistics.md): the share of tasks drawn uniformly from the top-k."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        add(
            "audit_share",
            "a number between 0 and 1 (the share of tasks whose candidates are drawn "
            "uniformly from the caption's top-k)",
        )


def instance_fields(project) -> dict:
    fields = {f.name: getattr(project, f.name) for f in project._meta.concrete_fields}
    fields["space"] = project.space
    fields["caption_datasets"] = list(project.caption_datasets.all())
    return fields


def instance_errors(project) -> dict[str, list[str]]:
    """The same checks for a saved project (at launch: data may have changed since)."""
    errors = project_errors(instance_fields(project))
    from ..groups.candidates import project_errors as groups_errors  # candidates from a groups build

    for field, messages in groups_errors(project).items():
        errors.setdefault(field, []).extend(messages)
    return errors
