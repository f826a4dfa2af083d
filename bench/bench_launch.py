"""Launch benchmark: a project over N captions and M items, stage by stage.

    .venv/bin/python bench/bench_launch.py --captions 200000 --sample 100000 --items 100000 --dim 256

Runs the real pipeline in-process (Celery eager mode) on PostgreSQL database
`pairrate_bench_launch`; items are remote URLs, so the media stage has nothing to
render. Prints seconds per stage from the PipelineStage rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, setup_django  # noqa: E402


def write_bundle(root: Path, captions: int, items: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    # Captions around 2,000 concepts of very different sizes, items around the same concepts.
    centers = rng.standard_normal((2000, dim), dtype=np.float32)
    weights = rng.pareto(1.0, 2000) + 1
    caption_concepts = rng.choice(2000, size=captions, p=weights / weights.sum())
    item_concepts = rng.integers(0, 2000, size=items)
    sources = np.array(["image", "video", "audio", "point_cloud"])[rng.integers(0, 4, size=captions)]
    with open(root / "captions.csv", "w") as handle:
        handle.write("id,text,source_modality\n")
        handle.writelines(
            f"c{i},caption {i} about concept {caption_concepts[i]},{sources[i]}\n" for i in range(captions)
        )
    with open(root / "items.csv", "w") as handle:
        handle.write("id,modality,media\n")
        handle.writelines(f"i{i},image,https://example.org/{i}.jpg\n" for i in range(items))
    np.save(
        root / "captions.npy", centers[caption_concepts] + 0.5 * rng.standard_normal((captions, dim), dtype=np.float32)
    )
    np.save(root / "items.npy", centers[item_concepts] + 0.5 * rng.standard_normal((items, dim), dtype=np.float32))
    (root / "captions.ids.txt").write_text("".join(f"c{i}\n" for i in range(captions)))
    (root / "items.ids.txt").write_text("".join(f"i{i}\n" for i in range(items)))
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": "launchbench",
                "media": "remote",
                "items": "items.csv",
                "captions": "captions.csv",
                "embeddings": [
                    {
                        "space": "launchbench-image",
                        "model": "random",
                        "dim": dim,
                        "target_modality": "image",
                        "captions": {"vectors": "captions.npy", "ids": "captions.ids.txt"},
                        "items": {"vectors": "items.npy", "ids": "items.ids.txt"},
                    }
                ],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--cap", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pairrate-bench-launch-"))
    os.environ["PAIRRATE_MEDIA_ROOT"] = str(work / "media")
    os.environ.pop("CELERY_BROKER_URL", None)  # eager: the whole pipeline in this process
    setup_django("pairrate_bench_launch")
    from django.db import connection

    from annotation.importing import import_bundle
    from annotation.models import Dataset, EmbeddingSpace, Project
    from annotation.pipeline import runner

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotation_dataset, annotation_embeddingspace, annotation_project CASCADE")
    bundle = work / "bundle"
    bundle.mkdir()
    write_bundle(bundle, args.captions, args.items, args.dim)
    print(f"machine: {machine()}")
    summary = import_bundle(bundle)
    print(f"import: {args.captions:,} captions + {args.items:,} items, {args.dim}-d: {summary.seconds:.1f} s")

    space = EmbeddingSpace.objects.get(name="launchbench-image")
    project = Project.objects.create(
        name="launch bench", space=space, target_modality="image", sample_size=args.sample, item_cap=args.cap, seed=1
    )
    project.caption_datasets.set(Dataset.objects.filter(name="launchbench"))
    started = time.perf_counter()
    runner.launch(project.id)
    total = time.perf_counter() - started
    project.refresh_from_db()
    print(f"launch: {project.state} in {total:.1f} s, {project.tasks.count():,} tasks")
    for stage in project.stages.order_by("order"):
        seconds = (stage.finished_at - stage.started_at).total_seconds() if stage.finished_at else float("nan")
        counts = {k: v for k, v in stage.counts.items() if k not in ("per_part", "item_use_distribution", "per_source")}
        print(f"  {stage.name:<13} {seconds:7.1f} s  {counts}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
