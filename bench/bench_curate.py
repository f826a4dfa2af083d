"""Benchmark `curate`: hierarchical k-means + balanced sampling vs faiss.Kmeans and the sgemm bound.

Quick:  python bench/bench_curate.py --rows 200000 --clusters 2000 200 20
Large:  python bench/bench_curate.py --rows 1000000 --clusters 10000 1000 100 --iteration-only
GPU:    python bench/bench_curate.py --rows 6700000 --dim 768 --clusters 20000 2000 200 --device cuda
Balance (issue 18): python bench/bench_curate.py --mixture   (200,000 x 64, 20 components 100:1, seeds 0-4)
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from bench_common import Timer, machine_summary, sgemm_gflops, synthetic_embeddings

from sampling.allocator import keep_freed_memory
from sampling.curation import balanced_sample, hierarchical_kmeans
from sampling.kmeans import kmeans
from sampling.synthetic import balance_report, gaussian_mixture

# Vo et al.'s reference implementation on the same mixture and parameters, measured
# elsewhere (issue 18) for seeds 0-2: normalised entropy of the sample's component counts
REFERENCE_ENTROPY = {0: 0.993, 1: 0.988, 2: 0.979}


def normalised_entropy(concepts: np.ndarray, n_concepts: int) -> float:
    p = np.bincount(concepts, minlength=n_concepts) / len(concepts)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(n_concepts))


def faiss_flat_kmeans(x: np.ndarray, k: int, iterations: int, seed: int) -> tuple[float, float]:
    import faiss

    with Timer() as timer:
        flat = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, max_points_per_centroid=10**9)
        flat.train(x)
    return timer.seconds, float(flat.index.search(x, 1)[0].astype(np.float64).sum())


def plain_torch_lloyd_seconds(x: np.ndarray, k: int, precision: str, device: str, chunk: int = 1 << 15) -> float:
    """One textbook Lloyd iteration with the data resident on the GPU: matmul, argmax,
    index_add; the speed limit our iteration is compared with there."""
    import torch

    data = torch.from_numpy(x).to(device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    centroids = data[:k].clone()

    def iteration():
        keys = centroids.to(dtype)
        bias = -0.5 * (centroids * centroids).sum(dim=1)
        sums = torch.zeros_like(centroids)
        counts = torch.zeros(k, device=device)
        for start in range(0, len(data), chunk):
            rows = data[start : start + chunk]
            labels = torch.addmm(bias.to(dtype), rows.to(dtype), keys.T).argmax(dim=1)
            sums.index_add_(0, labels, rows)
            counts += torch.bincount(labels, minlength=k)
        return sums / counts.clamp(min=1)[:, None]

    iteration()
    torch.cuda.synchronize()
    with Timer() as timer:
        iteration()
        torch.cuda.synchronize()
    torch.backends.cuda.matmul.allow_tf32 = False
    data = None  # drop the GPU copy before emptying the cache
    torch.cuda.empty_cache()
    return timer.seconds


def count_scored_pairs() -> dict:
    """Count the (row, centroid) pairs the Yinyang sweeps score in fp32 and screen in
    bf16, against all pairs."""
    from sampling import kmeans_bounds

    counts = {"scored": 0, "screened": 0, "all": 0}
    sweep = kmeans_bounds.YinyangState.sweep

    def counted(state, x, *args, **kwargs):
        before, screened = state.scored_pairs, state.screened_pairs
        result = sweep(state, x, *args, **kwargs)
        counts["scored"] += state.scored_pairs - before
        counts["screened"] += state.screened_pairs - screened
        counts["all"] += x.shape[0] * state.k
        return result

    kmeans_bounds.YinyangState.sweep = counted
    return counts


def time_iteration(x: np.ndarray, k: int, device: str, precision: str | None) -> float:
    """Seconds per Lloyd iteration of ours from a fixed start (on a GPU: after the first
    sweep, which also uploads the rows)."""
    start_centroids = x[np.random.default_rng(0).choice(len(x), k, replace=False)]
    runs = {}
    for iterations in (1, 3) if device.startswith("cuda") else (2,):
        with Timer() as timer:
            kmeans(
                x,
                k,
                iterations=iterations,
                init_centroids=start_centroids,
                relabel=False,
                device=device,
                precision=precision,
                bounds=False,
            )
        runs[iterations] = timer.seconds
    return (runs[3] - runs[1]) / 2 if 3 in runs else runs[2] / 2


def compare_seeding(x: np.ndarray, concept: np.ndarray, topic: np.ndarray, args, precision: str) -> None:
    """Batched k-means++ (ours, the default at this size) against classic sequential
    k-means++: flat k-means inertia after the same iterations, and the coverage of the
    balanced sample that each seeding leads to."""
    k1, target = args.clusters[0], int(args.target_fraction * len(x))
    for init in ("kmeans++batched", "kmeans++"):
        with Timer() as flat:
            inertia = kmeans(
                x, k1, iterations=args.iterations, seed=0, init=init, device=args.device, precision=precision
            ).inertia
        levels = hierarchical_kmeans(
            x,
            args.clusters,
            args.resampling_steps,
            args.sample_sizes[: len(args.clusters)],
            args.iterations,
            seed=0,
            device=args.device,
            precision=precision,
            level1_init=init,
        )
        selected = balanced_sample(levels, target, seed=0)
        print(
            f"seeding {init:16s}: flat k-means K={k1} {flat.seconds:6.2f} s, inertia {inertia:.1f}; "
            f"balanced-sample coverage: topics {normalised_entropy(topic[selected], args.topics):.4f}, "
            f"concepts {normalised_entropy(concept[selected], args.concepts):.4f}"
        )


def mixture_balance(args, precision: str) -> None:
    """Issue 18's balance check at full size: entropy and the lowest component share per seed."""
    x, component, sizes = gaussian_mixture(200_000, 64, seed=0)
    print(
        f"mixture 200,000 x 64, 20 components, sizes {sizes[0]} ... {sizes[-1]}; clusters {args.clusters}, "
        f"{args.resampling_steps} resampling steps {args.sample_sizes}, {args.iterations} iterations, 'closest', 10 %"
    )
    for seed in range(5):
        with Timer() as timer:
            levels = hierarchical_kmeans(
                x,
                args.clusters,
                args.resampling_steps,
                args.sample_sizes[: len(args.clusters)],
                args.iterations,
                "closest",
                seed=seed,
                device=args.device,
                precision=precision,
            )
            selected = balanced_sample(levels, len(x) // 10, seed=seed)
        entropy, lowest = balance_report(component[selected], sizes)
        reference = REFERENCE_ENTROPY.get(seed)
        bar = f"reference {reference:.3f}" if reference else "reference not measured (bar 0.99)"
        print(
            f"seed {seed}: entropy {entropy:.4f} ({bar}), lowest share {lowest:.3f}, {timer.seconds:.1f} s; "
            f"counts {np.bincount(component[selected], minlength=len(sizes)).tolist()}"
        )
    uniform = np.random.default_rng(0).choice(len(x), len(x) // 10, replace=False)
    print(f"uniform random 10 % sample: entropy {balance_report(component[uniform], sizes)[0]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument(
        "--data",
        choices=("concepts", "random"),
        default="concepts",
        help="Zipf-sized concepts in topics (default), or uniformly random unit vectors",
    )
    parser.add_argument("--concepts", type=int, default=5000)
    parser.add_argument("--topics", type=int, default=20, help="concepts come in this many Zipf-sized topics")
    parser.add_argument("--clusters", type=int, nargs="+", default=[2000, 200, 20])
    parser.add_argument("--resampling-steps", type=int, default=2)
    parser.add_argument("--sample-sizes", type=int, nargs="+", default=[50, 5, 5])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--target-fraction", type=float, default=0.1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default=None, help="fp32, tf32 or bf16 (default: tf32 on GPU, fp32 on CPU)")
    parser.add_argument(
        "--iteration-only",
        action="store_true",
        help="only time single k-means sweeps against the 2*N*K*d bound (for the 1M run)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="do not rerun curate without bounds")
    parser.add_argument(
        "--faiss-sweeps", action="store_true", help="also time curate with faiss's plain sweeps (backend faiss)"
    )
    parser.add_argument(
        "--faiss-iterations",
        type=int,
        default=None,
        help="run the faiss.Kmeans baseline for this many iterations and scale its time "
        "to --iterations (for sizes where the full baseline takes too long)",
    )
    parser.add_argument(
        "--compare-seeding",
        action="store_true",
        help="also run classic sequential k-means++ seeding and compare quality",
    )
    parser.add_argument(
        "--mixture", action="store_true", help="only the balance check on issue 18's Gaussian mixture (seeds 0-4)"
    )
    args = parser.parse_args()
    kept = keep_freed_memory()  # as a worker does at start-up, before any data (sampling.allocator)

    print(machine_summary(args.device))
    print(f"freed memory kept for reuse (glibc thresholds raised): {kept}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    gpu = args.device.startswith("cuda")
    precision = args.precision or ("tf32" if gpu else "fp32")
    if args.mixture:
        mixture_balance(args, precision)
        print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        return
    gflops = sgemm_gflops(args.device)
    print("GEMM GFLOP/s: " + ", ".join(f"{name} {value:.1f}" for name, value in gflops.items()))
    rate = (
        gflops[{"fp32": "torch", "tf32": "torch tf32", "bf16": "torch bf16"}[precision]]
        if gpu
        else max(value for name, value in gflops.items() if name != "torch bf16")
    )
    with Timer() as generate:
        x, concept = synthetic_embeddings(args.rows, args.dim, args.concepts, device=args.device, topics=args.topics)
        if args.data == "random":
            x = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
    print(f"generated {args.rows}x{args.dim} {args.data} in {generate.seconds:.1f} s (not timed below)")
    n, d, k1 = args.rows, args.dim, args.clusters[0]
    bound = 2.0 * n * k1 * d / (rate * 1e9)

    per_iteration = time_iteration(x, k1, args.device, precision)
    print(
        f"k-means iteration (N={n}, K={k1}, d={d}, {precision}): {per_iteration:.2f} s; 2NKd bound at "
        f"{rate:.0f} GFLOP/s: {bound:.2f} s; ratio {per_iteration / bound:.2f}x"
    )
    if gpu:
        plain = plain_torch_lloyd_seconds(x, k1, precision, args.device)
        print(
            f"plain torch Lloyd iteration, data resident on the GPU ({precision}): {plain:.2f} s; "
            f"ours / plain: {per_iteration / plain:.2f}x"
        )
    if args.iteration_only:
        if not args.skip_baseline and not gpu:
            seconds, _ = faiss_flat_kmeans(x, k1, 1, 0)
            print(f"faiss.Kmeans 1 iteration (incl. its init): {seconds:.2f} s")
        return

    def curate(bounds, backend="auto"):
        return hierarchical_kmeans(
            x,
            args.clusters,
            args.resampling_steps,
            args.sample_sizes[: len(args.clusters)],
            args.iterations,
            seed=0,
            device=args.device,
            precision=precision,
            bounds=bounds,
            backend=backend,
        )

    scored = count_scored_pairs()
    with Timer() as ours:
        levels = curate(None)
        selected = balanced_sample(levels, int(args.target_fraction * n), seed=0)
    if scored["all"]:
        print(
            f"Yinyang bounds scored {scored['scored'] / scored['all']:.3f} of the (row, centroid) pairs "
            f"of the level-1 sweeps in fp32 ({scored['scored'] / (n * k1):.1f} full sweeps' worth) and screened "
            f"{scored['screened'] / scored['all']:.3f} in bf16 ({scored['screened'] / (n * k1):.1f}), "
            f"of {scored['all'] / (n * k1):.1f} sweeps' worth"
        )
    if not gpu and not args.skip_plain:
        with Timer() as plain_timer:
            plain = curate(False, "torch")
            plain_selected = balanced_sample(plain, int(args.target_fraction * n), seed=0)
        same = all(
            np.array_equal(a.labels, b.labels) and np.array_equal(a.centroids, b.centroids)
            for a, b in zip(levels, plain)
        ) and np.array_equal(selected, plain_selected)
        print(
            f"curate with plain fp32 sweeps (bounds=False, torch GEMM): {plain_timer.seconds:.2f} s; "
            f"labels, centroids and sample identical to the bounded run: {same}"
        )
    if args.faiss_sweeps and not gpu:
        with Timer() as faiss_timer:
            balanced_sample(curate(False, "faiss"), int(args.target_fraction * n), seed=0)
        print(f"curate with faiss's plain fp32 sweeps (bounds=False, backend faiss): {faiss_timer.seconds:.2f} s")
    inertia = float(levels[0].sq_distances.astype(np.float64).sum())
    random_sample = np.random.default_rng(0).choice(n, len(selected), replace=False)
    print(
        f"curate {n}x{d} clusters {args.clusters}, {args.resampling_steps} resampling steps, "
        f"{args.iterations} iterations: {ours.seconds:.2f} s (sample {len(selected)} rows)"
    )
    topic = concept * args.topics // args.concepts
    concept_sets = (("topics", topic, args.topics), ("concepts", concept, args.concepts))
    for name, labels, count in concept_sets if args.data == "concepts" else ():  # random vectors have none
        print(
            f"coverage, normalised entropy over {count} {name}: curated "
            f"{normalised_entropy(labels[selected], count):.4f}, random "
            f"{normalised_entropy(labels[random_sample], count):.4f}"
        )
    if not args.skip_baseline and not gpu:
        faiss_iterations = args.faiss_iterations or args.iterations
        seconds, faiss_inertia = faiss_flat_kmeans(x, k1, faiss_iterations, 0)
        print(f"faiss.Kmeans flat K={k1}, {faiss_iterations} iterations: {seconds:.2f} s, inertia {faiss_inertia:.1f}")
        if faiss_iterations != args.iterations:
            seconds *= args.iterations / faiss_iterations
            print(f"  scaled to {args.iterations} iterations: {seconds:.1f} s (inertia not comparable)")
        else:
            print(f"ours level-1 inertia {inertia:.1f} ({inertia / faiss_inertia:.4f}x faiss)")
        print(f"whole curate run / faiss flat k-means time: {ours.seconds / seconds:.2f}x")
    else:
        print(f"ours level-1 inertia {inertia:.1f}")
    if args.compare_seeding:
        compare_seeding(x, concept, topic, args, precision)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
