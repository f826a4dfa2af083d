"""`python -m sampling match`: top-k candidate items for every caption."""

from __future__ import annotations

import time

import numpy as np

from sampling.cli_io import add_device_flag, load_rows, write_json
from sampling.progress import add_progress_flag, progress_bar

DEFAULT_K = 16  # = sampling.retrieval.DEFAULT_K; not imported so that registration needs no torch
METHODS = ("exact", "ivf")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "match",
        help="top-k inner-product retrieval of items for captions",
        description="For each caption vector find the k items with the highest inner product "
        "(exact, or approximate IVF). Writes an .npz with float32 `scores` and int64 `indices` [n, k].",
    )
    parser.add_argument("captions", help="[n, d] .npy caption embeddings (memory-mapped)")
    parser.add_argument("items", help="[m, d] .npy item embeddings of the same space")
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--method", choices=METHODS, default="exact")
    parser.add_argument("--nlist", type=int, help="IVF lists (default 2*sqrt(m))")
    parser.add_argument("--nprobe", type=int, help="IVF lists probed per query (default nlist/32, at least 16)")
    parser.add_argument("--hubness", action="store_true", help="CSLS-style hubness correction (2s - r_item)")
    add_device_flag(parser)
    parser.add_argument("--out", required=True, help="output .npz with scores and indices")
    parser.add_argument("--summary", help="optional JSON summary")
    add_progress_flag(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from sampling.device import resolve_device
    from sampling.retrieval import search

    captions, items = load_rows(args.captions), load_rows(args.items)
    device = resolve_device(args.device)
    started = time.perf_counter()
    try:
        with progress_bar(captions.shape[0], "match", not args.no_progress) as advance:
            scores, indices = search(
                captions,
                items,
                k=args.k,
                device=device,
                method=args.method,
                nlist=args.nlist,
                nprobe=args.nprobe,
                hubness_correction=args.hubness,
                progress=advance,
            )
    except ValueError as error:
        raise SystemExit(f"match: {error}") from error
    seconds = time.perf_counter() - started
    np.savez(args.out, scores=scores, indices=indices)
    if args.summary:
        write_json(
            args.summary,
            {
                "captions": int(captions.shape[0]),
                "items": int(items.shape[0]),
                "k": args.k,
                "method": args.method,
                "hubness": args.hubness,
                "device": str(device),
                "seconds": round(seconds, 3),
                "queries_per_second": round(captions.shape[0] / max(seconds, 1e-9), 1),
            },
        )
    return 0
