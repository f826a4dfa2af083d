"""Benchmark `dedup`: greedy cap-limited choice for 1,000,000 captions x 16 candidates (target < 10 s).

python bench/bench_dedup.py --captions 1000000 --k 16 --m 3 --cap 5
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_common import Timer, machine_summary

from sampling.dedup import greedy_dedup


def heavy_hitter_candidates(captions: int, k: int, pool: int, exponent: float, seed: int = 0):
    """Ranked candidates whose items follow a power law, as hubs in real retrieval do."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, pool + 1) ** exponent
    cdf = np.cumsum(popularity / popularity.sum())
    indices = np.minimum(np.searchsorted(cdf, rng.random((captions, k))), pool - 1).astype(np.int64)
    scores = -np.sort(-rng.random((captions, k), dtype=np.float32), axis=1)
    return indices, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--exponent", type=float, default=1.0, help="power-law exponent of item popularity")
    parser.add_argument("--m", type=int, default=3)
    parser.add_argument("--cap", type=int, default=5)
    args = parser.parse_args()

    print(machine_summary())
    indices, scores = heavy_hitter_candidates(args.captions, args.k, args.pool, args.exponent)
    with Timer() as timer:
        result = greedy_dedup(indices, scores, m=args.m, cap=args.cap)
    stats = {key: value for key, value in result.stats.items() if key != "dropped_caption_ids"}
    print(f"dedup {args.captions} x {args.k}, m={args.m}, cap={args.cap}: {timer.seconds:.2f} s (target < 10 s)")
    print(f"stats: {stats}")


if __name__ == "__main__":
    main()
