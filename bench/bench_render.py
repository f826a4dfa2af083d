"""Throughput of sampling.render: clouds/s for N-point clouds x V views at S x S pixels.

Rendering only (images stay on the device unless --to-cpu); reading files and encoding
WebP are not included. Run: `python bench/bench_render.py [--device cuda] [--clouds 1024]`.
Target on one H100: >= 1,000 clouds/s for 100,000 points x 8 views x 512 x 512.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sampling.device import resolve_device  # noqa: E402
from sampling.render import render_batch  # noqa: E402


def machine(device: torch.device) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"CPU {cpu} ({torch.get_num_threads()} threads){gpu}; torch {torch.__version__}"


def random_clouds(count: int, points: int, seed: int = 0) -> list[torch.Tensor]:
    """Points on a lumpy sphere, already inside the unit sphere like normalised input."""
    rng = np.random.default_rng(seed)
    clouds = []
    for _ in range(count):
        p = rng.normal(size=(points, 3))
        p *= (0.6 + 0.4 * rng.random((points, 1))) / np.linalg.norm(p, axis=1, keepdims=True)
        clouds.append(torch.from_numpy(p.astype(np.float32)))
    return clouds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: auto)")
    parser.add_argument("--clouds", type=int, default=None, help="clouds to render (default: 8 on CPU, 2048 on GPU)")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=None,
        help="clouds per render_batch call (default: 1 4 on CPU, 1 32 128 on GPU)",
    )
    parser.add_argument("--point-radius", type=int, default=1)
    parser.add_argument("--to-cpu", action="store_true", help="include copying images back to the host")
    args = parser.parse_args()
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    count = args.clouds or (2048 if gpu else 8)
    batches = args.batch or ([1, 32, 128] if gpu else [1, 4])
    print(machine(device))
    print(
        f"{count} clouds x {args.points:,} points, {args.views} views at {args.size}x{args.size}, "
        f"point radius {args.point_radius}, device {device}, images {'to host' if args.to_cpu else 'kept on device'}"
    )
    clouds = [c.to(device) for c in random_clouds(min(count, 64), args.points)]
    clouds = [clouds[i % len(clouds)] for i in range(count)]
    options = dict(views=args.views, size=args.size, point_radius=args.point_radius, device=device, to_cpu=args.to_cpu)
    for batch in batches:
        render_batch(clouds[:batch], **options)  # warm-up (kernels, allocator)
        sync(device)
        start = time.perf_counter()
        for i in range(0, count, batch):
            render_batch(clouds[i : i + batch], **options)
        sync(device)
        seconds = time.perf_counter() - start
        print(f"batch {batch:4d}: {count / seconds:8.1f} clouds/s  ({seconds / count * 1000:.1f} ms/cloud)")


if __name__ == "__main__":
    main()
