"""Export benchmark: N rated pairs (3 annotators each) exported to every format.

    .venv/bin/python bench/bench_export.py [--pairs 1000000] [--formats jsonl,csv,...]
        [--options pairs:shard_size=10000]

Rows are built in SQL (generate_series) in the database `pairrate_bench_export`, once
per size (whole tasks of 3 candidates: 1,000,000 means 999,999 pairs; a later run of the
same size reuses them). Each format runs in a fresh process so its peak RSS (VmHWM) is its own;
seconds are wall time of `execute_run` (snapshot, query, write, sha256, rename).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, setup_django  # noqa: E402

DATABASE = "pairrate_bench_export"
FORMATS = ["jsonl", "csv", "parquet", "emm1", "pairs", "zeroshot"]
CANDIDATES = 3
ANNOTATORS = 3
ITEMS = 20_000


def build(pairs: int) -> int:
    """The bench project's id, (re)building its rows when the size differs."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Dataset, EmbeddingSpace, PairResult, Project

    # Whole tasks only: --pairs 1000000 gives 333,333 tasks x 3 = 999,999 pairs.
    expected = pairs // CANDIDATES * CANDIDATES
    project = Project.objects.filter(name="bench-export").first()
    if project and PairResult.objects.filter(project=project).count() == expected:
        return project.pk
    started = time.perf_counter()
    _drop()
    print(f"dropped the old bench rows in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    dataset = Dataset.objects.create(name="bench-export")
    space, _ = EmbeddingSpace.objects.get_or_create(
        name="bench-export-image", defaults={"model_name": "toy", "dim": 4, "target_modality": "image"}
    )
    project = Project.objects.create(
        name="bench-export",
        target_modality="image",
        space=space,
        sample_size=pairs,
        item_cap=pairs,
        candidates_per_task=CANDIDATES,
        annotators_per_task=ANNOTATORS,
        state="ready",
    )
    users = [get_user_model().objects.get_or_create(username=f"bench-export-{i}")[0] for i in range(ANNOTATORS)]
    tasks = pairs // CANDIDATES
    d, p = dataset.pk, project.pk
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(f"""
            INSERT INTO annotation_item (dataset_id, modality, external_id, media, source_dataset, license, metadata)
            SELECT {d}, 'image', 'img' || g, 'images/' || g || '.jpg', 'coco', 'CC BY 4.0',
                   jsonb_build_object('file_name', g || '.jpg', 'save_folder', 'images', 'class', 'c' || (g % 50))
            FROM generate_series(0, {ITEMS - 1}) g""")
        cursor.execute(f"SELECT min(id) FROM annotation_item WHERE dataset_id = {d}")
        item0 = cursor.fetchone()[0]
        cursor.execute(f"""
            INSERT INTO annotation_caption (dataset_id, external_id, text, source_modality, paired_item_id,
                                            source_dataset, license, metadata)
            SELECT {d}, 'cap' || g, 'a photo of scene number ' || g || ' with a dog, a ball and some grass',
                   'image', {item0} + (g % {ITEMS}), 'coco', 'CC BY 4.0', '{{}}'
            FROM generate_series(0, {tasks - 1}) g""")
        cursor.execute(f"SELECT min(id) FROM annotation_caption WHERE dataset_id = {d}")
        caption0 = cursor.fetchone()[0]
        cursor.execute(f"""
            INSERT INTO annotation_task (project_id, caption_id, paired_item_id, position, nsfw_scores,
                                         open_slots, extra_slots, rating_count, is_gold)
            SELECT {p}, {caption0} + g, {item0} + (g % {ITEMS}), g, '{{}}', 0, 0, {ANNOTATORS}, false
            FROM generate_series(0, {tasks - 1}) g""")
        cursor.execute(f"""
            INSERT INTO annotation_taskcandidate (task_id, item_id, slot, retrieval_rank, similarity)
            SELECT t.id, {item0} + ((t.position * 7 + s * 13) % {ITEMS}), s, s, 0.9 - s * 0.1
            FROM annotation_task t, generate_series(0, {CANDIDATES - 1}) s WHERE t.project_id = {p}""")
        cursor.execute(f"""
            INSERT INTO annotation_assignment (project_id, task_id, annotator_id, state, gold, leased_at,
                leased_until, submitted_at, seconds, flags, gold_total, gold_correct)
            SELECT {p}, t.id, u, 'submitted', false, now(), now(), now(), 10, '[]', 0, 0
            FROM annotation_task t, unnest(ARRAY[{",".join(str(u.pk) for u in users)}]) u
            WHERE t.project_id = {p}""")
        # Mostly agreeing labels: the annotator with the highest id disagrees on every 4th pair.
        cursor.execute(f"""
            INSERT INTO annotation_rating (assignment_id, candidate_id, label)
            SELECT a.id, c.id, (ARRAY['good', 'partial', 'bad'])[1 + ((c.id % 3)
                   + CASE WHEN a.annotator_id = {users[-1].pk} AND c.id % 4 = 0 THEN 1 ELSE 0 END) % 3]
            FROM annotation_assignment a JOIN annotation_taskcandidate c ON c.task_id = a.task_id
            WHERE a.project_id = {p}""")
        cursor.execute(f"""
            INSERT INTO annotation_pairresult (project_id, task_id, candidate_id, state, label, votes,
                                               caption_modality, item_modality, updated_at)
            SELECT {p}, c.task_id, c.id, 'agreed', (ARRAY['good', 'partial', 'bad'])[1 + c.id % 3],
                   CASE WHEN c.id % 4 = 0
                        THEN jsonb_build_object((ARRAY['good', 'partial', 'bad'])[1 + c.id % 3], 2,
                                                (ARRAY['good', 'partial', 'bad'])[1 + (c.id + 1) % 3], 1)
                        ELSE jsonb_build_object((ARRAY['good', 'partial', 'bad'])[1 + c.id % 3], 3) END,
                   'image', 'image', now()
            FROM annotation_taskcandidate c JOIN annotation_task t ON t.id = c.task_id
            WHERE t.project_id = {p}""")
        cursor.execute("ANALYZE")
    print(
        f"built {PairResult.objects.filter(project=project).count():,} pairs in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return project.pk


def _drop() -> None:
    """The old bench rows, big tables first in SQL (the ORM's cascade would load 1M ids)."""
    from django.db import connection

    from annotation.models import Dataset, Project

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM annotation_project WHERE name = 'bench-export'")
        for (p,) in cursor.fetchall():
            cursor.execute(
                f"DELETE FROM annotation_rating USING annotation_assignment a "
                f"WHERE a.id = assignment_id AND a.project_id = {p}"
            )
            for table in ("annotation_assignment", "annotation_pairresult"):
                cursor.execute(f"DELETE FROM {table} WHERE project_id = {p}")
            cursor.execute(
                f"DELETE FROM annotation_taskcandidate USING annotation_task t "
                f"WHERE t.id = task_id AND t.project_id = {p}"
            )
            cursor.execute(f"DELETE FROM annotation_task WHERE project_id = {p}")
        cursor.execute("SELECT id FROM annotation_dataset WHERE name = 'bench-export'")
        for (d,) in cursor.fetchall():
            cursor.execute(f"DELETE FROM annotation_caption WHERE dataset_id = {d}")
            cursor.execute(f"DELETE FROM annotation_item WHERE dataset_id = {d}")
    Project.objects.filter(name="bench-export").delete()
    Dataset.objects.filter(name="bench-export").delete()


def run_one(project_id: int, fmt: str, options: dict) -> dict:
    from annotation.export import create_run, execute_run

    run = create_run([project_id], fmt, options=options)
    started = time.perf_counter()
    run = execute_run(run.pk)
    seconds = time.perf_counter() - started
    assert run.state == "succeeded", run.error
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    result = {
        "format": fmt,
        **({"options": options} if options else {}),
        "rows": run.row_count,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak / 1024),
        "file_mb": round(run.size_bytes / 2**20, 1),
    }
    run.absolute_path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument(
        "--options",
        action="append",
        default=[],
        metavar="FORMAT:KEY=VALUE",
        help="a format option, e.g. pairs:shard_size=10000",
    )
    parser.add_argument("--one", nargs=2, metavar=("PROJECT", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--one-options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django(DATABASE)
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1], json.loads(args.one_options))))
        return
    options: dict[str, dict] = {}
    for spec in args.options:
        fmt, _, pair = spec.partition(":")
        key, _, value = pair.partition("=")
        options.setdefault(fmt, {})[key] = value
    print(machine())
    project_id = build(args.pairs)
    for fmt in args.formats.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(project_id),
                fmt,
                "--one-options",
                json.dumps(options.get(fmt, {})),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
