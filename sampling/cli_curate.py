"""`python -m sampling curate`: pick a concept-balanced subset of embeddings."""

from __future__ import annotations

import time

import numpy as np

from sampling.cli_io import add_device_flag, load_rows, save_npy, write_json
from sampling.progress import add_progress_flag, progress_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "curate",
        help="diverse sampling: hierarchical k-means + balanced sampling",
        description="Select --target rows of an [N, d] .npy of embeddings so that concepts are covered evenly "
        "(Vo et al. 2024). Writes the selected row indices (.npy) and a JSON summary.",
    )
    parser.add_argument("embeddings", help="[N, d] float .npy (memory-mapped)")
    parser.add_argument("--target", type=int, required=True, help="number of rows to select")
    parser.add_argument("--clusters", type=int, nargs="+", default=[2000, 200, 20], help="clusters per level")
    parser.add_argument("--resampling-steps", type=int, nargs="+", default=[2], help="per level, or one for all")
    parser.add_argument(
        "--sample-sizes",
        type=int,
        nargs="+",
        default=[10],
        help="rows per cluster in resampling, per level or one for all",
    )
    parser.add_argument("--iterations", type=int, default=10, help="Lloyd iterations per k-means run")
    parser.add_argument("--resample-strategy", choices=("closest", "random"), default="closest")
    parser.add_argument(
        "--strategy",
        choices=("random", "closest"),
        default="random",
        help="how points are picked inside the bottom clusters",
    )
    parser.add_argument("--seed", type=int, default=0)
    add_device_flag(parser)
    parser.add_argument("--out", required=True, help="selected row indices, int64 .npy")
    parser.add_argument("--summary", help="JSON summary (default: OUT with .json)")
    parser.add_argument("--labels-out", help="optional level-1 cluster label per row, .npy")
    add_progress_flag(parser)
    parser.set_defaults(func=run)


def _per_level(values: list[int], n_levels: int) -> list[int]:
    return values * n_levels if len(values) == 1 else values


def run(args) -> int:
    # torch-backed modules load here, not at registration: `--help` and other subcommands stay fast
    from sampling.curation import balanced_sample, cluster_sizes, hierarchical_kmeans, level_one_sweeps
    from sampling.device import resolve_device

    data = load_rows(args.embeddings)
    levels_n = len(args.clusters)
    steps = _per_level(args.resampling_steps, levels_n)
    device = resolve_device(args.device)
    started = time.perf_counter()
    with progress_bar(
        data.shape[0] * level_one_sweeps(args.iterations, steps[0]), "curate", not args.no_progress
    ) as advance:
        levels = hierarchical_kmeans(
            data,
            args.clusters,
            steps,
            _per_level(args.sample_sizes, levels_n),
            args.iterations,
            args.resample_strategy,
            args.seed,
            device,
            progress=advance,
        )
    selected = balanced_sample(levels, args.target, args.strategy, args.seed)
    seconds = time.perf_counter() - started
    save_npy(args.out, selected.astype(np.int64))
    if args.labels_out:
        save_npy(args.labels_out, levels[0].labels)
    sizes = cluster_sizes(levels)
    write_json(
        args.summary or str(args.out).removesuffix(".npy") + ".json",
        {
            "input": args.embeddings,
            "rows": int(data.shape[0]),
            "dim": int(data.shape[1]),
            "target": args.target,
            "selected": int(len(selected)),
            "clusters": args.clusters,
            "resampling_steps": steps,
            "iterations": args.iterations,
            "seed": args.seed,
            "device": str(device),
            "level1_inertia": float(levels[0].sq_distances.astype(np.float64).sum()),
            "cluster_sizes": [{"min": int(s.min()), "max": int(s.max()), "mean": float(s.mean())} for s in sizes],
            "seconds": round(seconds, 3),
        },
    )
    return 0
