"""`python -m sampling nsfw` and `python -m sampling render`, run as real subprocesses."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sampling import cli_nsfw, cli_render
from sampling.__main__ import SUBCOMMANDS

REPO = Path(__file__).resolve().parents[2]


def _command(name: str) -> list[str]:
    """`python -m sampling <name>`; while a sibling subcommand module is still missing
    (the dispatcher imports them all), run this one's module directly."""
    everything_there = all((REPO / "sampling" / f"cli_{n}.py").exists() for n in SUBCOMMANDS)
    return (
        [sys.executable, "-m", "sampling", name] if everything_there else [sys.executable, "-m", f"sampling.cli_{name}"]
    )


def run_cli(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*_command(name), *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120)


def _detoxify_fixture_writer():
    spec = importlib.util.spec_from_file_location("_nsfw_fixtures", Path(__file__).with_name("test_nsfw.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_detoxify_fixture


def help_text(main, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_nsfw_help_documents_every_option(capsys):
    text = help_text(cli_nsfw.main, capsys)
    for option in (
        "--field",
        "--backend",
        "--checkpoint",
        "--config-dir",
        "--threshold",
        "--batch-size",
        "--default-threshold",
        "--id-field",
        "--device",
        ".jsonl",
        ".npz",
        ".txt",
    ):
        assert option in text


def test_nsfw_profanity_txt_to_jsonl(tmp_path):
    (tmp_path / "captions.txt").write_text("a cat on a sofa\nchicken breast on a grill\n\nyou fucking idiot\n")
    result = run_cli(
        "nsfw",
        tmp_path / "captions.txt",
        "-o",
        tmp_path / "scores.jsonl",
        "--backend",
        "profanity",
        "--threshold",
        "profanity=0.3",
        "--batch-size",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "nsfw: 100%" in result.stderr  # the progress bar ran to the end
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4]
    assert [r["keep"] for r in rows] == [True, False, False]
    assert rows[0]["scores"]["profanity"] < 0.1 and rows[2]["scores"]["profanity"] > 0.99


def test_nsfw_detoxify_jsonl_to_npz(tmp_path):
    checkpoint, config_dir, _ = _detoxify_fixture_writer()(tmp_path)
    records = [{"id": f"c{i}", "caption": text} for i, text in enumerate(["a cat on the sofa", "you idiot", "dog"])]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = run_cli(
        "nsfw",
        tmp_path / "pairs.jsonl",
        "-o",
        tmp_path / "scores.npz",
        "--field",
        "caption",
        "--checkpoint",
        checkpoint,
        "--config-dir",
        config_dir,
        "--threshold",
        "toxicity=1",
        "--default-threshold",
        "0",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "scores.npz") as out:
        assert list(out["id"]) == ["c0", "c1", "c2"]
        assert {
            "toxicity",
            "severe_toxicity",
            "obscene",
            "identity_attack",
            "insult",
            "threat",
            "sexual_explicit",
            "keep",
            "line",
        } <= set(out.files)
        assert np.all((out["insult"] > 0) & (out["insult"] < 1))
        assert not out["keep"].any()  # every other label is thresholded at 0


def test_nsfw_reports_bad_input_and_config(tmp_path, capsys):
    (tmp_path / "pairs.jsonl").write_text('{"text": "fine"}\n{"caption": "no text field"}\n')
    assert cli_nsfw.main([str(tmp_path / "pairs.jsonl"), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert "pairs.jsonl:2" in capsys.readouterr().err
    (tmp_path / "ok.txt").write_text("fine\n")
    assert (
        cli_nsfw.main(
            [
                str(tmp_path / "ok.txt"),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--backend",
                "detoxify",
                "--checkpoint",
                str(tmp_path / "missing.ckpt"),
                "--config-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "missing.ckpt" in capsys.readouterr().err
    assert cli_nsfw.main([str(tmp_path / "ok.txt"), "-o", str(tmp_path / "out.jsonl"), "--threshold", "profanity"]) == 2
    assert "LABEL=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_render_directory_with_a_corrupt_file(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    np.save(src / "blob.npy", rng.normal(size=(2000, 3)).astype(np.float32))
    (src / "broken.ply").write_bytes(b"ply\nformat nonsense\n")
    import trimesh

    trimesh.creation.icosphere().export(src / "ball.off")
    result = run_cli(
        "render",
        src,
        "-o",
        tmp_path / "out",
        "--views",
        "3",
        "--size",
        "40",
        "--format",
        "png",
        "--points",
        "3000",
        "--background",
        "#000000",
    )
    assert result.returncode == 1, result.stderr
    assert "render: 100%" in result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [Path(o["input"]).name for o in manifest["outputs"]] == ["ball.off", "blob.npy"]
    assert [Path(e["input"]).name for e in manifest["errors"]] == ["broken.ply"]
    assert manifest["settings"]["background"] == [0, 0, 0]
    ball = manifest["outputs"][0]
    assert ball["points"] == 3000 and len(ball["views"]) == 3
    with Image.open(ball["views"][0]) as im:
        assert im.size == (40, 40) and np.asarray(im)[0, 0].tolist() == [0, 0, 0]
    with Image.open(ball["sheet"]) as im:
        assert im.size == (3 * 40 + 2 * 4, 40)


def test_render_help_and_argument_errors(tmp_path, capsys):
    text = help_text(cli_render.main, capsys)
    for option in (
        "--views",
        "--size",
        "--format",
        "--points",
        "--up",
        "--point-radius",
        "--background",
        "--device",
        "--batch",
        "manifest.json",
    ):
        assert option in text
    assert cli_render.main([str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "no input files" in capsys.readouterr().err
    (tmp_path / "a.npy").write_bytes(b"")
    assert cli_render.main([str(tmp_path), "-o", str(tmp_path / "out"), "--background", "red"]) == 2
    assert "#rrggbb" in capsys.readouterr().err


def test_library_never_imports_django():
    code = (
        "import sys, sampling.nsfw, sampling.render, sampling.pointcloud_io, sampling.cli_nsfw, "
        "sampling.cli_render; assert 'django' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
