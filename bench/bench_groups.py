"""Benchmark retrieval groups: exact search against the measured GEMM bound, IVF against
plain faiss IndexIVFFlat and against exact, and the E-MM1 100M export rate.

    python bench/bench_groups.py exact --captions 200000 --items 200000 --dim 256
    python bench/bench_groups.py ivf --items 1000000 --queries 20000 --nlist 2048 --nprobe 32,64
    python bench/bench_groups.py export --captions 1000000 --k 16
    python bench/bench_groups.py exact --device cuda --captions 6700000 --items 1000000 --dim 768

`exact` times sampling.retrieval.PreparedPool (what a groups part runs: chunked GEMM +
top-k, ties by smaller id, TF32 re-checked to fp32 on a GPU) against the bare GEMMs
of the same shapes (torch.mm of each query chunk against the items, nothing else), and
with `--tiled-bound` on the CPU also against the same GEMMs in the threshold top-k's tiles.
`ivf` times sampling.ivf (PreparedPool method="ivf") against exact search and against
plain faiss IndexIVFFlat with the same nlist/nprobe, both on our lists and trained by
faiss on the same sample, for queries around the items' concepts and around others.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_common import machine_summary, synthetic_embeddings

from sampling.retrieval import PreparedPool, recall_at_k


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bare_gemm_seconds(queries: np.ndarray, items: np.ndarray, chunk: int, device: str, tf32: bool) -> float:
    keys = torch.from_numpy(items).to(device)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        start = time.perf_counter()
        for begin in range(0, len(queries), chunk):
            q = torch.from_numpy(queries[begin : begin + chunk]).to(device)
            scores = q @ keys.T
            del scores
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def blocked_gemm_seconds(queries: np.ndarray, items: np.ndarray, chunk: int) -> float:
    """The CPU threshold top-k's GEMMs alone: each query chunk in the same [query block, key
    block] tiles (sampling.gemm_topk), on as many worker threads as torch has, one
    torch thread each - the bound with the score traffic of those tiles, not of a whole
    [chunk, items] matrix."""
    from concurrent.futures import ThreadPoolExecutor

    from sampling.gemm_topk import EXACT_KEY_BLOCK, EXACT_QUERY_BLOCK
    from sampling.threshold_topk import one_torch_thread

    keys, workers = torch.from_numpy(items), torch.get_num_threads()
    start = time.perf_counter()
    with one_torch_thread(), ThreadPoolExecutor(workers) as pool:
        for begin in range(0, len(queries), chunk):
            q = torch.from_numpy(queries[begin : begin + chunk])
            tiles = [
                (q[q0 : q0 + EXACT_QUERY_BLOCK], keys[lo : lo + EXACT_KEY_BLOCK])
                for lo in range(0, len(keys), EXACT_KEY_BLOCK)
                for q0 in range(0, len(q), EXACT_QUERY_BLOCK)
            ]
            list(pool.map(lambda w: [torch.mm(a, b.T) for a, b in tiles[w::workers]], range(workers)))
    return time.perf_counter() - start


def bench_exact(args) -> None:
    items, _ = synthetic_embeddings(args.items, args.dim, 1000, seed=1)
    queries, _ = synthetic_embeddings(args.captions, args.dim, 1000, seed=2)
    pool = PreparedPool(items, device=args.device)
    pool.search(queries[:256], args.k)  # warm up
    start = time.perf_counter()
    pool.search(queries, args.k)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    ours = time.perf_counter() - start
    gemm = bare_gemm_seconds(queries, items, pool.chunk_rows, args.device, args.device.startswith("cuda"))
    flops = 2.0 * args.captions * args.items * args.dim
    print(
        f"exact top-{args.k}: {args.captions:,} captions x {args.items:,} items x d={args.dim} on {args.device} "
        f"({type(pool.searcher).__name__}): {ours:.1f} s = {args.captions / ours:,.0f} captions/s; "
        f"bare GEMMs of the same shapes {gemm:.1f} s ({flops / gemm / 1e9:,.0f} GFLOP/s); "
        f"ratio {ours / gemm:.2f}x  [{load_average()}]",
        flush=True,
    )
    if args.tiled_bound and args.device == "cpu" and pool.settles_ties:  # the CPU threshold top-k's own tiles
        tiled = blocked_gemm_seconds(queries, items, pool.chunk_rows)
        print(
            f"  the same GEMMs in the threshold top-k's tiles {tiled:.1f} s ({flops / tiled / 1e9:,.0f} GFLOP/s); "
            f"ratio {ours / tiled:.2f}x  [{load_average()}]"
        )


def ivf_data(args) -> tuple[np.ndarray, dict]:
    """The items, and the query sets: `same` drawn around the items' own concept centres
    (as captions share their items' concepts), `other` around other centres, so that
    queries sit near no item cluster (the adversarial case)."""
    rows, _ = synthetic_embeddings(args.items + args.queries, args.dim, 1000, seed=1)
    items, sets = rows[: args.items], {}
    if "same" in args.data:
        sets["same"] = rows[args.items :]
    if "other" in args.data:
        sets["other"], _ = synthetic_embeddings(args.queries, args.dim, 1000, seed=2)
    return items, sets


def timed_search(search, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """(ids, seconds) of one search call."""
    start = time.perf_counter()
    _, ids = search(queries, k)
    return ids, time.perf_counter() - start


def faiss_ivf_flat(items: np.ndarray, nlist: int, centroids: np.ndarray | None):
    """Plain faiss IndexIVFFlat: trained by faiss on the same seeded sample as ours, or
    given our centroids (then its lists, probes and answers are ours)."""
    import faiss

    dim = items.shape[1]
    if centroids is None:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rows = np.sort(np.random.default_rng(0).choice(len(items), min(len(items), 64 * nlist), replace=False))
        index.train(items[rows])
    else:
        quantizer = faiss.IndexFlatIP(dim)  # lists by largest inner product, as sampling.ivf's
        quantizer.add(centroids)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.is_trained = True
    for start in range(0, len(items), 1 << 16):
        index.add(items[start : start + (1 << 16)])
    return index


def bench_ivf(args) -> None:
    items, sets = ivf_data(args)
    nprobes = [int(x) for x in str(args.nprobe).split(",")]
    print(
        f"IVF nlist={args.nlist}, {args.queries:,} queries x {args.items:,} items x d={args.dim}, k={args.k}, "
        f"torch threads {torch.get_num_threads()}"
    )
    exact = PreparedPool(items)
    truth, exact_s = {}, {}
    for name, queries in sets.items():
        truth[name], exact_s[name] = timed_search(exact.search, queries, args.k)
        print(f"  exact (PreparedPool), {name:5s} queries: {exact_s[name]:7.1f} s  [{load_average()}]", flush=True)
    del exact
    start = time.perf_counter()
    ours = PreparedPool(items, method="ivf", nlist=args.nlist, nprobe=nprobes[0], seed=0)
    print(f"  ours: train + add {time.perf_counter() - start:.1f} s  [{load_average()}]", flush=True)
    baselines = {} if args.no_faiss else {"faiss IndexIVFFlat, our lists": ours.searcher.index.centroids.numpy()}
    if not (args.no_faiss or args.no_faiss_training):
        baselines["faiss IndexIVFFlat, own training"] = None
    indexes = {}
    for label, centroids in baselines.items():
        start = time.perf_counter()
        indexes[label] = faiss_ivf_flat(items, args.nlist, centroids)
        print(f"  {label}: train + add {time.perf_counter() - start:.1f} s  [{load_average()}]", flush=True)
    for nprobe in nprobes:
        ours.searcher.nprobe = nprobe
        for name, queries in sets.items():
            found, ours_s = timed_search(ours.search, queries, args.k)
            print(
                f"  nprobe {nprobe:4d} {name:5s}: ours  search {ours_s:6.2f} s  recall@{args.k} "
                f"{recall_at_k(found, truth[name]):.4f}  {exact_s[name] / ours_s:5.1f}x faster than exact  "
                f"[{load_average()}]",
                flush=True,
            )
            for label, index in indexes.items():
                index.nprobe = nprobe
                plain, plain_s = timed_search(index.search, queries, args.k)
                print(
                    f"  {'':18s}{label}: search {plain_s:6.2f} s  recall@{args.k} "
                    f"{recall_at_k(plain, truth[name]):.4f}  ours {plain_s / ours_s:4.1f}x faster  [{load_average()}]",
                    flush=True,
                )


def bench_export(args) -> None:
    import pyarrow as pa

    from annotation.groups.export import GroupsWriter, csv_fields

    rng = np.random.default_rng(0)
    modalities = ["video", "audio", "image", "point_cloud"]

    def uuids(n):
        return [f"{rng.integers(1 << 62):016x}-{i:019d}" for i in range(n)]  # 36 characters, as E-MM1's

    ids = {m: uuids(args.items) for m in modalities}
    # as annotation.groups.export.write_outputs: one more entry for "no item"
    items_raw = {m: pa.array(values + [None], pa.string()) for m, values in ids.items()}
    items_csv = {m: csv_fields(values + [""]) for m, values in ids.items()}
    chunk = args.chunk
    texts = uuids(chunk)
    text_raw, text_csv = pa.array(texts, pa.string()), csv_fields(texts)
    positions = {m: rng.integers(0, args.items, size=(chunk, args.k)) for m in modalities}
    scores = {m: rng.random((chunk, args.k), dtype=np.float32) for m in modalities}
    for formats in (("csv",), ("parquet",)):
        folder = Path(tempfile.mkdtemp(prefix="bench-groups-", dir=args.scratch))
        try:
            writer = GroupsWriter(folder, args.k, modalities, items_raw, items_csv, formats)
            start = time.perf_counter()
            for _ in range(args.captions // chunk):
                writer.write(text_raw, text_csv, positions, scores)
            files = writer.close()
            seconds = time.perf_counter() - start
            size = sum(f["bytes"] for f in files.values())
            print(
                f"export {'+'.join(formats):8s}: {writer.rows:,} group rows ({args.captions:,} captions x k={args.k},"
                f" 4 modalities) in {seconds:.1f} s = {writer.rows / seconds:,.0f} rows/s, {size / 2**20:,.0f} MiB,"
                f" sha256 included  [{load_average()}]"
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["exact", "ivf", "export"])
    parser.add_argument("--captions", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--nlist", type=int, default=2048)
    parser.add_argument("--nprobe", default="64", help="ivf: one value or several, comma-separated")
    parser.add_argument("--data", default="same,other", help="ivf: query sets, same and/or other (see ivf_data)")
    parser.add_argument("--no-faiss-training", action="store_true", help="ivf: only faiss on our lists")
    parser.add_argument("--no-faiss", action="store_true", help="ivf: ours against exact only")
    parser.add_argument("--chunk", type=int, default=65_536, help="export: captions per chunk")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--tiled-bound", action="store_true", help="exact, CPU: also time the GEMMs in the threshold top-k's tiles"
    )
    parser.add_argument("--scratch", default=None, help="export: folder for the files (default: temp)")
    args = parser.parse_args()
    print(machine_summary(args.device), f"[{load_average()}]")
    if args.what == "export":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pairrate.settings")
        import django

        django.setup()
    {"exact": bench_exact, "ivf": bench_ivf, "export": bench_export}[args.what](args)


if __name__ == "__main__":
    main()
