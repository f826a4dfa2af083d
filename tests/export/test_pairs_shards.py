"""`pairs` with `shard_size`: WebDataset-style tar shards inside one `.tar`."""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter

import pytest

from annotation.export import ExportRequestError, create_run, execute_run
from annotation.export.rows import ExportSource
from annotation.models import ExportRun


def export(projects, options) -> ExportRun:
    run = execute_run(create_run([p.pk for p in projects], "pairs", options=options).pk)
    assert run.state == "succeeded", run.error
    return run


def read_shards(path) -> tuple[list[str], dict, dict[str, list[tuple[str, dict]]]]:
    """Outer member names, the manifest, and each shard's (member name, sample) list."""
    shards = {}
    with tarfile.open(path) as outer:
        names = outer.getnames()
        for info in outer.getmembers():
            assert info.mtime == 0 and info.mode == 0o644 and info.uid == 0 and info.uname == ""
        manifest = json.loads(outer.extractfile(names[-1]).read())
        for name in names[:-1]:
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read())) as shard:
                members = shard.getmembers()
                assert all(m.mtime == 0 and m.isfile() for m in members)
                shards[name] = [(m.name, json.loads(shard.extractfile(m).read())) for m in members]
    return names, manifest, shards


def test_shards_hold_the_jsonl_pairs_as_webdataset_samples(world):
    lines = [json.loads(line) for line in export([world.three], {}).absolute_path.read_text().splitlines()]
    run = export([world.three], {"shard_size": 4})
    assert run.absolute_path.suffix == ".tar" and run.row_count == len(lines) == 6
    names, manifest, shards = read_shards(run.absolute_path)
    assert names == ["pairs-000000.tar", "pairs-000001.tar", "pairs-shards.json"]
    assert manifest == {
        "samples": 6,
        "shards": [{"name": "pairs-000000.tar", "samples": 4}, {"name": "pairs-000001.tar", "samples": 2}],
    }
    samples = [sample for name in names[:-1] for sample in shards[name]]
    keys = [key for key, _ in samples]
    assert keys == sorted(keys) == [f"{i:09d}.json" for i in range(6)]
    assert [sample for _, sample in samples] == lines
    assert Counter(s["target"] for _, s in samples) == {1: 3, 0: 3}
    first = samples[0][1]
    assert {"caption", "caption_id", "item_id", "item_media", "label", "similarity", "target"} <= set(first)


def test_shards_are_the_same_bytes_for_the_same_pairs(world, monkeypatch):
    options = {"shard_size": 2, "partial": "negative"}
    first, second = export([world.three], options), export([world.three], options)
    assert first.sha256 == second.sha256 and first.absolute_path.read_bytes() == second.absolute_path.read_bytes()
    monkeypatch.setattr(ExportSource, "renders_sql", property(lambda self: False))
    assert export([world.three], options).sha256 == first.sha256, "the Python path writes the same bytes"
    _, manifest, _ = read_shards(first.absolute_path)
    assert manifest["samples"] == first.row_count == 9 and len(manifest["shards"]) == 5


def test_no_pairs_give_an_outer_tar_with_only_the_manifest(world):
    run = execute_run(create_run([world.three.pk], "pairs", {"labels": ["partial"]}, {"shard_size": 10}).pk)
    assert run.state == "succeeded" and run.row_count == 0
    names, manifest, _ = read_shards(run.absolute_path)
    assert names == ["pairs-shards.json"] and manifest == {"samples": 0, "shards": []}


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "ten", "", 1_000_001])
def test_shard_size_must_be_a_whole_number(world, value):
    with pytest.raises(ExportRequestError) as caught:
        create_run([world.three.pk], "pairs", options={"shard_size": value})
    assert caught.value.field == "options" and "shard_size" in caught.value.message


def test_shard_size_from_the_command_line_is_stored_as_a_number(world):
    assert create_run([world.three.pk], "pairs", options={"shard_size": "500"}).options == {"shard_size": 500}
