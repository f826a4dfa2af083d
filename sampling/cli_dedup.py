"""`python -m sampling dedup`: keep m candidates per caption, each item used at most cap times."""

from __future__ import annotations

import time

import numpy as np

from sampling.cli_io import save_npy, write_json
from sampling.dedup import DEFAULT_CAP, DEFAULT_M, greedy_dedup
from sampling.progress import add_progress_flag, progress_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="greedy de-duplication of heavy-hitter items",
        description="Read `match` output (.npz with scores and indices), choose --m candidates per caption "
        "greedily by descending score with no item used more than --cap times. Writes chosen item "
        "ids [n, m] (.npy, -1 where a caption could not be served) and statistics (.json).",
    )
    parser.add_argument("candidates", help=".npz from `match` (scores, indices)")
    parser.add_argument("--m", type=int, default=DEFAULT_M, help="candidates to keep per caption")
    parser.add_argument("--cap", type=int, default=DEFAULT_CAP, help="maximum uses of one item")
    parser.add_argument("--out", required=True, help="chosen item ids, int64 .npy [n, m]")
    parser.add_argument("--stats", help="statistics JSON (default: OUT with .json)")
    add_progress_flag(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    with np.load(args.candidates) as candidates:
        indices, scores = candidates["indices"], candidates["scores"]
    started = time.perf_counter()
    try:
        with progress_bar(indices.shape[0], "dedup", not args.no_progress, unit="captions") as advance:
            result = greedy_dedup(indices, scores, m=args.m, cap=args.cap, progress=advance)
    except ValueError as error:
        raise SystemExit(f"dedup: {error}") from error
    stats = dict(result.stats, seconds=round(time.perf_counter() - started, 3), input=args.candidates)
    save_npy(args.out, result.chosen)
    write_json(args.stats or str(args.out).removesuffix(".npy") + ".json", stats)
    return 0
