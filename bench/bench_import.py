"""Import benchmark: N items with D-d embeddings into PostgreSQL, against the I/O floor.

    .venv/bin/python bench/bench_import.py --items 1000000 --dim 512

The floor is what any importer must at least do on this machine: one COPY of the same
rows into an unindexed table, plus reading and writing the vectors once. pairrate's
import does more (validation, upserts on unique keys, normalisation, a checksum, the
row mapping), so the ratio says what that costs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, setup_django  # noqa: E402


def write_bundle(root: Path, items: int, dim: int) -> None:
    import json

    rng = np.random.default_rng(0)
    with open(root / "items.csv", "w") as handle:
        handle.write("id,modality,media,source_dataset,license\n")
        for start in range(0, items, 100_000):
            handle.write(
                "".join(
                    f"img-{i},image,https://example.org/{i}.jpg,laion,CC BY 4.0\n"
                    for i in range(start, min(start + 100_000, items))
                )
            )
    vectors = np.lib.format.open_memmap(root / "items.npy", mode="w+", dtype=np.float32, shape=(items, dim))
    for start in range(0, items, 65536):
        stop = min(start + 65536, items)
        vectors[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
    vectors.flush()
    del vectors
    (root / "items.ids.txt").write_text("".join(f"img-{i}\n" for i in range(items)))
    (root / "pairrate.json").write_text(
        json.dumps(
            {
                "dataset": "bench",
                "media": "remote",
                "items": "items.csv",
                "embeddings": [
                    {
                        "space": "bench-image",
                        "model": "random",
                        "dim": dim,
                        "target_modality": "image",
                        "items": {"vectors": "items.npy", "ids": "items.ids.txt"},
                    }
                ],
            }
        )
    )


def floor_seconds(root: Path, media: Path) -> float:
    """COPY the CSV into a bare table, and read + write the vectors once."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE UNLOGGED TABLE bench_floor (id text, modality text, media text, src text, lic text)")
        with (
            open(root / "items.csv") as handle,
            cursor.cursor.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while block := handle.read(1 << 22):
                copy.write(block)
        cursor.execute("DROP TABLE bench_floor")
    source = np.load(root / "items.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(media / "floor.npy", mode="w+", dtype=np.float32, shape=source.shape)
    for start in range(0, source.shape[0], 65536):
        out[start : start + 65536] = source[start : start + 65536]
    out.flush()
    del out
    os.unlink(media / "floor.npy")
    return time.perf_counter() - started


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # TRUNCATE: deleting a million rows one by one is slow
        cursor.execute(
            "TRUNCATE annotation_itemvector, annotation_captionvector, annotation_vectorshard, "
            "annotation_embeddingspace, annotation_item, annotation_caption, annotation_dataset CASCADE"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pairrate-bench-import-"))
    os.environ["PAIRRATE_MEDIA_ROOT"] = str(work / "media")
    setup_django("pairrate_bench_import")
    from annotation.importing import import_bundle

    reset()
    bundle = work / "bundle"
    bundle.mkdir()
    started = time.perf_counter()
    write_bundle(bundle, args.items, args.dim)
    print(f"machine: {machine()}")
    print(
        f"bundle: {args.items:,} items, {args.dim}-d float32 vectors "
        f"({args.items * args.dim * 4 / 2**30:.2f} GiB), written in {time.perf_counter() - started:.1f} s"
    )

    stage_times: dict[str, float] = {}
    last = [time.perf_counter(), None]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if last[1] is not None:
            stage_times[last[1]] = stage_times.get(last[1], 0.0) + now - last[0]
        last[0], last[1] = now, stage

    first = import_bundle(bundle, progress=progress)
    progress("commit", 0, 0)
    print("stages of the fresh import (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stage_times.items()))
    second = import_bundle(bundle)  # re-import: every row is an upsert conflict
    (work / "media").mkdir(exist_ok=True)
    floor = floor_seconds(bundle, work / "media")
    print(f"import (fresh):     {first.seconds:7.1f} s  ({args.items / first.seconds:,.0f} items/s)")
    print(f"re-import (upsert): {second.seconds:7.1f} s")
    print(
        f"I/O floor (COPY to bare table + one vector pass): {floor:.1f} s; "
        f"import / floor = {first.seconds / floor:.2f}x"
    )
    reset()
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
