"""A small imported dataset for groups tests: four target modalities, each in its own
space (different dimensions), captions from two sources, and a space whose captions
cover only one source."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

SPACES = {  # space -> (target modality, file stem, items, dim)
    "g-video": ("video", "videos", 23, 12),
    "g-audio": ("audio", "audios", 19, 8),
    "g-image": ("image", "images", 31, 16),
    "g-points": ("point_cloud", "clouds", 17, 6),
}
N_CAPTIONS = 45  # 30 image-source, 15 audio-source; the video space lacks the last two


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write_bundle(root: Path, dataset: str = "groupset", seed: int = 11) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    items, embeddings = [], []
    captions = [
        {"id": f"cap{i:03d}", "text": f'caption, number "{i}"', "source_modality": "image" if i < 30 else "audio"}
        for i in range(N_CAPTIONS)
    ]
    for space, (modality, stem, n, dim) in SPACES.items():
        rows = [
            {"id": f"{stem}-{i:03d}", "modality": modality, "media": f"https://example.org/{stem}/{i}"}
            for i in range(n)
        ]
        items += rows
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        vectors[5] = vectors[2]  # an exact tie: the smaller id must rank first
        np.save(root / f"{stem}.npy", vectors)
        (root / f"{stem}.ids.txt").write_text("".join(r["id"] + "\n" for r in rows))
        covered = captions[:-2] if modality == "video" else captions
        np.save(root / f"{space}-captions.npy", rng.normal(size=(len(covered), dim)).astype(np.float32))
        (root / f"{space}-captions.ids.txt").write_text("".join(c["id"] + "\n" for c in covered))
        embeddings.append(
            {
                "space": space,
                "model": "toy",
                "dim": dim,
                "target_modality": modality,
                "captions": {"vectors": f"{space}-captions.npy", "ids": f"{space}-captions.ids.txt"},
                "items": {"vectors": f"{stem}.npy", "ids": f"{stem}.ids.txt"},
            }
        )
    # audio target, but caption vectors only for image-source captions
    image_captions = captions[:30]
    np.save(root / "g-audio-b-captions.npy", rng.normal(size=(30, 8)).astype(np.float32))
    (root / "g-audio-b-captions.ids.txt").write_text("".join(c["id"] + "\n" for c in image_captions))
    embeddings.append(
        {
            "space": "g-audio-b",
            "model": "toy",
            "dim": 8,
            "target_modality": "audio",
            "captions": {"vectors": "g-audio-b-captions.npy", "ids": "g-audio-b-captions.ids.txt"},
            "items": {"vectors": "audios.npy", "ids": "audios.ids.txt"},
        }
    )
    with open(root / "items.jsonl", "w") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in items)
    with open(root / "captions.jsonl", "w") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in captions)
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": dataset,
                "media": "local",
                "items": "items.jsonl",
                "captions": "captions.jsonl",
                "embeddings": embeddings,
            }
        )
    )
    return root


@pytest.fixture
def groups_bundle(tmp_path) -> Path:
    return write_bundle(tmp_path / "bundle")


@pytest.fixture
def imported_groups(groups_bundle, running_worker):
    from annotation.importing import import_bundle

    import_bundle(groups_bundle)
    return groups_bundle


def brute_force(bundle: Path, space: str, caption_external_ids: list[str], k: int):
    """fp32 scores of the normalised vectors, top-k with ties by the smaller item database id."""
    from annotation.models import Item

    modality, stem = SPACES[space][:2]
    item_ext = (bundle / f"{stem}.ids.txt").read_text().split()
    db_id = dict(Item.objects.filter(modality=modality).values_list("external_id", "pk"))
    item_ids = np.array([db_id[e] for e in item_ext])
    items = unit(np.load(bundle / f"{stem}.npy").astype(np.float64)).astype(np.float32)
    cap_ext = (bundle / f"{space}-captions.ids.txt").read_text().split()
    queries = unit(np.load(bundle / f"{space}-captions.npy").astype(np.float64)).astype(np.float32)
    queries = queries[[cap_ext.index(c) for c in caption_external_ids]]
    scores = queries @ items.T
    order = np.lexsort((np.broadcast_to(item_ids, scores.shape), -scores), axis=-1)[:, :k]
    return item_ids[order], np.take_along_axis(scores, order, axis=1)


def wait_settled(build, timeout: float = 120):
    from annotation.models import GroupsBuild

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build.refresh_from_db()
        if build.state not in (GroupsBuild.State.PENDING, GroupsBuild.State.RUNNING):
            return build
        time.sleep(0.1)
    raise AssertionError(f"groups build {build.pk} still {build.state} after {timeout} s")


def four_spaces() -> dict:
    return {modality: space for space, (modality, *_rest) in SPACES.items()}
