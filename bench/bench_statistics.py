"""Benchmark the cluster bootstrap of sampling.statistics against the textbook loop.

    python bench/bench_statistics.py --captions 100000 --per-caption 4 --groups 40 --boot 1000

Ours: Poisson(1) weights per caption (16-bit table lookup), every replicate of every group
from two sparse-dense products. Baseline (the strongest plain-numpy loop): per replicate,
draw captions with replacement (multinomial counts via np.bincount), then weighted group
sums with np.bincount. Both give percentile intervals; the figures print side by side
with the machine and load average.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from bench_common import Timer, machine_summary

from sampling import statistics as st


def loop_bootstrap(y, clusters, groups, n_groups, n_boot, seed):
    rng = np.random.default_rng(seed)
    n_clusters = int(clusters.max()) + 1
    out = np.empty((n_boot, n_groups))
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters).astype(np.float64)
        w = counts[clusters]
        out[b] = np.bincount(groups, w * y, n_groups) / np.maximum(np.bincount(groups, w, n_groups), 1e-300)
    return np.quantile(out, [0.025, 0.975], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captions", type=int, default=100_000)
    parser.add_argument("--per-caption", type=int, default=4)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.captions * args.per_caption
    clusters = np.repeat(np.arange(args.captions), args.per_caption)
    groups = rng.integers(0, args.groups, n)
    y = (rng.random(n) < 0.6).astype(np.float64)
    print(machine_summary(), f"; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.captions} captions x {args.per_caption} pairs, {args.groups} groups, {args.boot} replicates")
    with Timer() as ours:
        shares = st.grouped_shares(y, clusters, groups, args.groups, n_boot=args.boot, seed=1)
    with Timer() as draws:
        st.poisson_weights(np.random.default_rng(2), (args.captions, args.boot))
    with Timer() as poisson:
        np.random.default_rng(2).poisson(1.0, (args.captions, args.boot))
    with Timer() as loop:
        low, high = loop_bootstrap(y, clusters, groups, args.groups, args.boot, seed=1)
    width_ours = float(np.mean(shares.high - shares.low))
    width_loop = float(np.mean(high - low))
    print(f"{'ours (Poisson weights, sparse products)':45s} {ours.seconds:8.2f} s   mean width {width_ours:.4f}")
    print(f"{'numpy loop (multinomial, bincount)':45s} {loop.seconds:8.2f} s   mean width {width_loop:.4f}")
    print(
        f"speed-up {loop.seconds / ours.seconds:.1f}x; weights: table lookup {draws.seconds:.2f} s, "
        f"rng.poisson {poisson.seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
