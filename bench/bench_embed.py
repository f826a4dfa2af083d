"""Embedding speed: images/s and captions/s of a ViT-B/16-sized CLIP-style model (random
weights: speed does not depend on them), with decoding in the loop, through the same
`sampling.encoders` code the embed parts run.

Baselines measured side by side in the same run: the bare model forward on already decoded
and preprocessed tensors (what the encoder would reach if decoding cost nothing), so the
ratio shows how much of the decoding the worker threads hide.

    .venv/bin/python bench/bench_embed.py [--images 256] [--captions 2048] [--device auto]
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--captions", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4, help="decoding threads")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import numpy as np
    import torch

    from sampling.encoders import load_encoder
    from sampling.encoders.tiny import build_clip

    folder = Path(tempfile.mkdtemp(prefix="bench-embed-")) / "clip-vit-b16"
    started = time.perf_counter()
    build_clip(folder, dim=512, hidden=768, layers=12, heads=12, image_size=224, patch_size=16, text_hidden=512)
    print(f"built a ViT-B/16-sized CLIPModel (random weights) in {time.perf_counter() - started:.1f} s")
    encoder = load_encoder("clip", folder, device=args.device, batch_size=args.batch, threads=args.threads)
    params = sum(p.numel() for p in encoder.model.parameters()) / 1e6
    print(
        f"machine: {machine()}; device {encoder.device}; torch threads {torch.get_num_threads()}; "
        f"{params:.0f}M parameters; load average {os.getloadavg()[0]:.2f}"
    )

    photos = sorted(Path(p) for p in glob.glob(str(SHARED / "coco-val2017-mini" / "images" / "*.jpg")))
    paths = (photos * (args.images // len(photos) + 1))[: args.images]
    captions = []
    for name in ("val.csv", "test.csv"):
        with open(SHARED / "audiocaps" / name, newline="", encoding="utf-8") as handle:
            captions += [row["caption"] for row in csv.DictReader(handle)]
    captions = (captions * (args.captions // len(captions) + 1))[: args.captions]

    encoder.embed_media(paths[: args.batch])  # warm-up: first-call allocations
    started = time.perf_counter()
    _, vectors, failures = encoder.embed_media(paths)
    media_seconds = time.perf_counter() - started
    assert not failures and len(vectors) == len(paths)

    from sampling.encoders.decode import decode_image

    pixels = encoder.processor(images=[decode_image(p) for p in paths[: args.batch]], return_tensors="pt")
    pixels = pixels["pixel_values"].to(encoder.device)
    batches = -(-len(paths) // args.batch)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(batches):
            encoder.model.get_image_features(pixel_values=pixels)
    bare_seconds = (time.perf_counter() - started) * len(paths) / (batches * args.batch)

    encoder.embed_texts(captions[: args.batch])
    started = time.perf_counter()
    text_vectors = encoder.embed_texts(captions)
    text_seconds = time.perf_counter() - started
    assert np.allclose(np.linalg.norm(text_vectors, axis=1), 1, atol=1e-4)

    print(
        f"images:   {len(paths) / media_seconds:8.1f} images/s with JPEG decoding + preprocessing in the loop "
        f"({len(paths)} COCO photos, batch {args.batch}, {args.threads} decoding threads)"
    )
    print(
        f"          {len(paths) / bare_seconds:8.1f} images/s bare model forward on preprocessed tensors "
        f"(ratio end-to-end / bare: {bare_seconds / media_seconds:.2f})"
    )
    print(
        f"captions: {len(captions) / text_seconds:8.1f} captions/s ({len(captions)} AudioCaps captions, "
        f"tokenising included)"
    )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
