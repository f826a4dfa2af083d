"""curate -> match -> dedup end to end through `python -m sampling`, in subprocesses."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sampling.__main__ import main

REPO = Path(__file__).resolve().parents[2]


def sampling_cli(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "sampling", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("cli")
    means = rng.normal(size=(8, 16)) * 5
    sizes = [20, 40, 80, 160, 320, 400, 500, 600]
    captions = np.concatenate([means[i] + rng.normal(size=(s, 16)) for i, s in enumerate(sizes)]).astype(np.float32)
    items = rng.normal(size=(300, 16)).astype(np.float32)
    np.save(folder / "captions.npy", captions)
    np.save(folder / "items.npy", items)
    return folder


@pytest.mark.parametrize("command", ["curate", "match", "dedup"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m sampling " + command in capsys.readouterr().out


def test_match_defaults_follow_the_library():
    from sampling import cli_match, retrieval

    assert (cli_match.DEFAULT_K, cli_match.METHODS) == (retrieval.DEFAULT_K, retrieval.METHODS)


def test_curate_match_dedup_pipeline(embeddings):
    folder = embeddings
    sampling_cli(
        "curate",
        folder / "captions.npy",
        "--target",
        160,
        "--clusters",
        40,
        8,
        "--resampling-steps",
        1,
        0,
        "--sample-sizes",
        5,
        2,
        "--out",
        folder / "selected.npy",
    )
    selected = np.load(folder / "selected.npy")
    summary = json.loads((folder / "selected.json").read_text())
    assert selected.dtype == np.int64 and len(np.unique(selected)) == 160 == summary["selected"]
    assert summary["rows"] == 2120 and summary["clusters"] == [40, 8]

    sampling_cli(
        "match",
        folder / "captions.npy",
        folder / "items.npy",
        "--k",
        16,
        "--out",
        folder / "candidates.npz",
        "--summary",
        folder / "match.json",
    )
    with np.load(folder / "candidates.npz") as candidates:
        scores, indices = candidates["scores"], candidates["indices"]
    assert scores.shape == indices.shape == (2120, 16)
    captions, items = np.load(folder / "captions.npy"), np.load(folder / "items.npy")
    assert np.array_equal(indices[:, 0], (captions @ items.T).argmax(1))

    result = sampling_cli("dedup", folder / "candidates.npz", "--m", 3, "--cap", 25, "--out", folder / "chosen.npy")
    chosen = np.load(folder / "chosen.npy")
    stats = json.loads((folder / "chosen.json").read_text())
    assert chosen.shape == (2120, 3)
    assert np.bincount(chosen[chosen >= 0]).max() <= 25 == stats["max_item_use"]
    assert stats["captions_dropped"] == int((chosen < 0).any(axis=1).sum())
    assert "dedup" in result.stderr  # the progress bar goes to stderr


def test_match_reports_bad_input_as_a_message(embeddings, tmp_path):
    np.save(tmp_path / "other.npy", np.zeros((10, 8), dtype=np.float32))
    with pytest.raises(SystemExit, match="dimension mismatch"):
        main(
            [
                "match",
                str(embeddings / "captions.npy"),
                str(tmp_path / "other.npy"),
                "--out",
                str(tmp_path / "x.npz"),
                "--no-progress",
            ]
        )


def test_importing_sampling_never_imports_django():
    code = (
        "import sys, sampling, sampling.kmeans, sampling.curation, sampling.retrieval, sampling.dedup, "
        "sampling.cli_curate, sampling.cli_match, sampling.cli_dedup; assert 'django' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
