"""Zero-shot classification across two modalities, as the EShot benchmark defines it.

Shipped as `evaluate.py` inside every `zeroshot` export; needs only numpy.

For each ordered pair of modalities (query -> reference): every class gets one
embedding, the mean of its reference items' unit vectors (re-normalised); each query
item is scored against all class embeddings by cosine similarity; top-1 and top-5
accuracy say how often its own class is first / among the first five.

    python evaluate.py classes.csv \\
        --embeddings audio=audio.npy:audio.ids.txt \\
        --embeddings point_cloud=points.npy:points.ids.txt

`classes.csv` has columns `class, modality, item_id`; each `.npy` is rows x dim and its
ids file has one item id per line in row order (as in a pairrate bundle).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict

import numpy as np


def read_classes(path: str) -> dict[str, dict[str, str]]:
    """modality -> {item_id: class}"""
    classes: dict[str, dict[str, str]] = defaultdict(dict)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            classes[row["modality"]][row["item_id"]] = row["class"]
    return dict(classes)


def read_embeddings(spec: str) -> tuple[str, dict[str, np.ndarray]]:
    modality, _, files = spec.partition("=")
    vectors_path, _, ids_path = files.partition(":")
    vectors = np.load(vectors_path).astype(np.float64)
    with open(ids_path, encoding="utf-8") as handle:
        ids = [line.strip() for line in handle if line.strip()]
    if len(ids) != len(vectors):
        raise SystemExit(f"{ids_path}: {len(ids)} ids for {len(vectors)} vectors")
    return modality, dict(zip(ids, vectors))


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def evaluate(query: dict[str, tuple[str, np.ndarray]], reference: dict[str, tuple[str, np.ndarray]], ks=(1, 5)) -> dict:
    """query/reference: item_id -> (class, vector). Classes come from the reference side."""
    by_class: dict[str, list[np.ndarray]] = defaultdict(list)
    for label, vector in reference.values():
        by_class[label].append(unit(vector))
    names = sorted(by_class)
    if not names:
        return {"queries": 0, "classes": 0, **{f"top{k}": None for k in ks}}
    centroids = unit(np.stack([np.mean(by_class[name], axis=0) for name in names]))
    index = {name: i for i, name in enumerate(names)}
    scored = [(index[label], vector) for label, vector in query.values() if label in index]
    if not scored:
        return {"queries": 0, "classes": len(names), **{f"top{k}": None for k in ks}}
    truth = np.array([i for i, _ in scored])
    similarity = unit(np.stack([v for _, v in scored])) @ centroids.T
    # Rank of the true class: how many classes score strictly higher.
    rank = (similarity > similarity[np.arange(len(truth)), truth][:, None]).sum(axis=1)
    return {"queries": len(truth), "classes": len(names), **{f"top{k}": float(np.mean(rank < k)) for k in ks}}


def run(classes_path: str, embedding_specs: list[str]) -> dict:
    classes = read_classes(classes_path)
    embedded = dict(read_embeddings(spec) for spec in embedding_specs)
    sides = {}
    for modality, vectors in embedded.items():
        labels = classes.get(modality, {})
        sides[modality] = {i: (labels[i], vectors[i]) for i in labels if i in vectors}
    results = {}
    for query in sides:
        for reference in sides:
            if query != reference:
                results[f"{query}->{reference}"] = evaluate(sides[query], sides[reference])
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("classes", help="classes.csv from the export")
    parser.add_argument(
        "--embeddings", action="append", required=True, help="MODALITY=vectors.npy:ids.txt (give one per modality)"
    )
    args = parser.parse_args(argv)
    json.dump(run(args.classes, args.embeddings), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
