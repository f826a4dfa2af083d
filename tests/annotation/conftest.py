"""Bundle builders and snapshots for import tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from annotation.models import Caption, CaptionVector, Dataset, EmbeddingSpace, Item, ItemVector, VectorShard
from tests.annotation.workflow_setup import admin, annotators  # noqa: F401  (fixtures for the workflow tests)

DIM = 8


def write_table(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        import csv

        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)


def random_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32) * 3


@pytest.fixture
def make_bundle(tmp_path):
    """Build a small valid bundle: 4 images (2 with local media), 3 captions, one space."""

    def build(fmt: str = "jsonl", name: str = "bundle", n_items: int = 4, **overrides) -> Path:
        root = tmp_path / name
        (root / "media").mkdir(parents=True)
        items = []
        for i in range(n_items):
            media = ""
            if i < 2:
                (root / "media" / f"img{i}.jpg").write_bytes(f"jpeg bytes {i}".encode())
                media = f"media/img{i}.jpg"
            items.append(
                {
                    "id": f"img{i}",
                    "modality": "image",
                    "media": media,
                    "source_dataset": "coco",
                    "license": "CC BY 2.0",
                    "photographer": f"p{i}",
                }
            )
        captions = [
            {
                "id": f"cap{i}",
                "text": f"a photo number {i}",
                "source_modality": "image",
                "paired_item": f"img{i}",
                "source_dataset": "coco",
                "license": "CC BY 4.0",
            }
            for i in range(3)
        ]
        items = overrides.get("items", items)
        captions = overrides.get("captions", captions)
        write_table(root / f"items.{fmt}", items)
        write_table(root / f"captions.{fmt}", captions)
        item_ids = overrides.get("item_vector_ids", [r["id"] for r in items])
        caption_ids = [r["id"] for r in captions]
        np.save(root / "items.npy", overrides.get("item_vectors", random_vectors(len(item_ids), seed=1)))
        np.save(root / "captions.npy", random_vectors(len(caption_ids), seed=2))
        (root / "items.ids.txt").write_text("".join(i + "\n" for i in item_ids))
        (root / "captions.ids.txt").write_text("".join(i + "\n" for i in caption_ids))
        manifest = {
            "format": "pairrate-bundle/1",
            "dataset": overrides.get("dataset", "demo-set"),
            "media": "local",
            "items": f"items.{fmt}",
            "captions": f"captions.{fmt}",
            "embeddings": [
                {
                    "space": "toy-image",
                    "model": "toy-clip",
                    "dim": overrides.get("dim", DIM),
                    "target_modality": "image",
                    "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                    "items": {"vectors": "items.npy", "ids": "items.ids.txt"},
                }
            ],
        }
        manifest.update(overrides.get("manifest", {}))
        (root / "pairrate.json").write_text(json.dumps(manifest))
        return root

    return build


def database_snapshot() -> dict:
    models = [Dataset, Item, Caption, EmbeddingSpace, VectorShard, ItemVector, CaptionVector]
    return {m.__name__: sorted(map(str, m.objects.values_list())) for m in models}


def media_snapshot(root: Path) -> list:
    entries = []
    for path in sorted(Path(root).rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        entries.append((str(path.relative_to(root)), digest))
    return entries


@pytest.fixture
def snapshot(media_root):
    """Snapshot of everything an import may write: database rows and media files."""
    return lambda: (database_snapshot(), media_snapshot(media_root))
