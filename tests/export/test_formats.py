"""What each format writes, read back the way a user would read it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from annotation.export import create_run, execute_run
from annotation.export.rows import COLUMNS
from annotation.export.writer import sha256_of
from annotation.export.zeroshot_eval import run as evaluate
from annotation.models import ExportRun, Item


def export(projects, fmt, filters=None, options=None) -> ExportRun:
    run = execute_run(create_run([p.pk for p in projects], fmt, filters, options).pk)
    assert run.state == "succeeded", run.error
    assert run.sha256 == sha256_of(run.absolute_path)
    assert run.size_bytes == run.absolute_path.stat().st_size
    assert not list(run.absolute_path.parent.glob(".tmp-*"))
    return run


def jsonl_rows(run) -> list[dict]:
    return [json.loads(line) for line in run.absolute_path.read_text().splitlines()]


def test_jsonl_has_everything_about_a_pair(world):
    run = export([world.three, world.single], "jsonl")
    rows = jsonl_rows(run)
    assert run.row_count == len(rows) == 14
    assert all(list(r) == COLUMNS for r in rows)
    gold = next(r for r in rows if r["project"] == "three" and r["caption_id"] == "cap0" and r["item_id"] == "img0")
    assert gold["caption"] == "text of cap0" and gold["item_media"] == "media/coco/img0.bin"
    assert gold["paired_item_id"] == "img0" and gold["modality_pair"] == "image->image"
    assert gold["similarity"] == pytest.approx(0.9) and gold["retrieval_rank"] == 0
    assert gold["state"] == "agreed" and gold["label"] == "good" and gold["gold_label"] == "good"
    assert gold["annotators"] == [{"annotator": n, "label": "good"} for n in ("ann-a", "ann-b", "ann-c")]
    assert gold["votes_good"] == 3 and gold["agreement"] == 1.0
    adjudicated = next(r for r in rows if r["state"] == "adjudicated")
    assert adjudicated["label"] == "partial" and adjudicated["agreement"] == 0.0
    for row in rows:  # each annotator's label agrees with the stored votes
        votes = Counter(a["label"] for a in row["annotators"])
        assert votes == Counter({k: row[f"votes_{k}"] for k in ("good", "partial", "bad") if row[f"votes_{k}"]})


def test_csv_and_parquet_carry_the_jsonl_columns_and_values(world):
    reference = sorted(jsonl_rows(export([world.three, world.single], "jsonl")), key=lambda r: r["candidate_id"])
    with open(export([world.three, world.single], "csv").absolute_path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        csv_rows = list(reader)
    table = pq.read_table(export([world.three, world.single], "parquet").absolute_path)
    assert table.column_names == COLUMNS
    parquet_rows = table.to_pylist()
    assert len(csv_rows) == len(parquet_rows) == len(reference)
    for ref, text, native in zip(reference, csv_rows, parquet_rows):
        assert json.loads(text["annotators"]) == ref["annotators"] == native["annotators"]
        assert text["caption"] == ref["caption"] == native["caption"]
        assert float(text["similarity"]) == ref["similarity"] == native["similarity"]
        assert native["decided_at"].isoformat() == ref["decided_at"] == text["decided_at"]
        assert native["candidate_id"] == ref["candidate_id"] == int(text["candidate_id"])


def test_filters_apply_to_files_too(world):
    rows = jsonl_rows(export([world.three], "jsonl", {"labels": ["bad"], "gold": "exclude"}))
    assert {(r["caption_id"], r["item_id"]) for r in rows} == {("cap0", "img1"), ("cap4", "img2"), ("cap4", "img0")}


def test_pairs_good_positive_bad_negative_partial_optional(world):
    rows = jsonl_rows(export([world.three], "pairs"))
    assert Counter(r["target"] for r in rows) == {1: 3, 0: 3}
    assert {r["label"] for r in rows} == {"good", "bad"}
    assert {"caption", "item_media", "similarity"} <= set(rows[0])
    with_partial = jsonl_rows(export([world.three], "pairs", options={"partial": "negative"}))
    assert Counter(r["target"] for r in with_partial) == {1: 3, 0: 6}
    positive = jsonl_rows(export([world.three], "pairs", options={"partial": "positive"}))
    assert Counter(r["target"] for r in positive) == {1: 6, 0: 3}


def read_zip(path: Path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
            for name in archive.namelist()
            if name.endswith(".csv")
        }


def test_emm1_triplets_and_infos(world):
    run = export([world.three], "emm1")
    files = read_zip(run.absolute_path)
    assert set(files) == {"triplets.csv", "infos/text.csv", "infos/image.csv", "infos/audio.csv"}
    triplets = files["triplets.csv"]
    assert list(triplets[0]) == [
        "encord_text_id",
        "paired_modality",
        "annotated_modality",
        "encord_paired_id",
        "encord_annotated_id",
        "annotation",
    ]
    assert run.row_count == len(triplets) == 9, "the contested pair has no label"
    by_pair = {(t["encord_text_id"], t["encord_annotated_id"]): t for t in triplets}
    assert by_pair["cap0", "img0"]["annotation"] == "1" and by_pair["cap0", "img1"]["annotation"] == "3"
    assert by_pair["cap3", "img3"]["annotation"] == "2"  # adjudicated partial
    assert by_pair["cap2", "img3"] == {
        "encord_text_id": "cap2",
        "paired_modality": "audio",
        "annotated_modality": "image",
        "encord_paired_id": "aud0",
        "encord_annotated_id": "img3",
        "annotation": "1",
    }
    assert [r["encord_image_id"] for r in files["infos/image.csv"]] == ["img0", "img1", "img2", "img3"]
    assert files["infos/image.csv"][0] == {
        "encord_image_id": "img0",
        "source_dataset": "coco",
        "dataset_license": "CC BY 4.0",
        "file_name": "img0.bin",
        "save_folder": "media/coco",
    }
    assert [r["encord_audio_id"] for r in files["infos/audio.csv"]] == ["aud0", "aud1"]
    assert files["infos/audio.csv"][0]["youtube_id"] == ""
    assert {r["encord_text_id"] for r in files["infos/text.csv"]} == {"cap0", "cap1", "cap2", "cap3", "cap4"}


def test_zeroshot_mapping_and_evaluation(world, tmp_path):
    # Classes: cat (img0, img1, aud1) and dog (img2, img3, aud0).
    classes = {"img0": "cat", "img1": "cat", "img2": "dog", "img3": "dog", "aud0": "dog", "aud1": "cat"}
    for external_id, name in classes.items():
        Item.objects.filter(external_id=external_id).update(metadata={"category": name})
    run = export([world.three], "zeroshot", options={"class_key": "category"})
    rows = read_zip(run.absolute_path)["classes.csv"]
    # Good agreed pairs whose two items share a class: cap0/img0, cap1/img1 (paired with
    # themselves) and cap2/img3 (audio dog aud0 with image dog img3).
    assert rows == [
        {"class": "cat", "modality": "image", "item_id": "img0"},
        {"class": "cat", "modality": "image", "item_id": "img1"},
        {"class": "dog", "modality": "audio", "item_id": "aud0"},
        {"class": "dog", "modality": "image", "item_id": "img3"},
    ]
    Item.objects.filter(external_id="aud0").update(metadata={"category": "cat"})
    rows = read_zip(export([world.three], "zeroshot", options={"class_key": "category"}).absolute_path)
    assert {r["item_id"] for r in rows["classes.csv"]} == {"img0", "img1"}, "mismatched classes are left out"
    with zipfile.ZipFile(run.absolute_path) as archive:
        assert b"top-1" in archive.read("evaluate.py")


def test_evaluation_script_scores_top1_and_top5(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16))
    lines = ["class,modality,item_id"]
    vectors = {"audio": [], "point_cloud": []}
    for modality in vectors:
        for c in range(8):
            for i in range(3):
                lines.append(f"c{c},{modality},{modality}-{c}-{i}")
                vectors[modality].append((f"{modality}-{c}-{i}", centres[c] + rng.normal(size=16) * 0.05))
    (tmp_path / "classes.csv").write_text("\n".join(lines) + "\n")
    specs = []
    for modality, rows in vectors.items():
        np.save(tmp_path / f"{modality}.npy", np.stack([v for _, v in rows]))
        (tmp_path / f"{modality}.ids.txt").write_text("".join(i + "\n" for i, _ in rows))
        specs.append(f"{modality}={tmp_path / f'{modality}.npy'}:{tmp_path / f'{modality}.ids.txt'}")
    results = evaluate(str(tmp_path / "classes.csv"), specs)
    assert results["audio->point_cloud"] == {"queries": 24, "classes": 8, "top1": 1.0, "top5": 1.0}
    # Shuffle the point-cloud vectors among classes: accuracy falls towards chance.
    np.save(tmp_path / "point_cloud.npy", rng.normal(size=(24, 16)))
    results = evaluate(str(tmp_path / "classes.csv"), specs)
    assert results["audio->point_cloud"]["top1"] < 0.5
    assert results["point_cloud->audio"]["top5"] < 1.0
