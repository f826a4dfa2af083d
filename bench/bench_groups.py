"""Benchmark retrieval groups: exact search against the measured GEMM bound, IVF against
plain faiss IndexIVFFlat and against exact, and the E-MM1 100M export rate.

    python bench/bench_groups.py exact --captions 200000 --items 200000 --dim 256
    python bench/bench_groups.py ivf --items 1000000 --queries 10000 --nlist 4096 --nprobe 32
    python bench/bench_groups.py export --captions 1000000 --k 16
    python bench/bench_groups.py exact --device cuda --captions 6700000 --items 1000000 --dim 768

`exact` times sampling.retrieval.PreparedPool (what a groups part runs: chunked GEMM +
top-k, ties by smaller id, TF32 re-checked to fp32 on a GPU) against the bare GEMMs
of the same shapes (torch.mm of each query chunk against the items, nothing else).
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
        f"ratio {ours / gemm:.2f}x  [{load_average()}]"
    )


def bench_ivf(args) -> None:
    import faiss

    items, _ = synthetic_embeddings(args.items, args.dim, 1000, seed=1)
    queries, _ = synthetic_embeddings(args.queries, args.dim, 1000, seed=2)
    start = time.perf_counter()
    exact = PreparedPool(items)
    _, truth = exact.search(queries, args.k)
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    ivf = PreparedPool(items, method="ivf", nlist=args.nlist, nprobe=args.nprobe, seed=0)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    _, found = ivf.search(queries, args.k)
    ours_s = time.perf_counter() - start
    # plain faiss, same nlist/nprobe and training sample size
    start = time.perf_counter()
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(args.dim), args.dim, args.nlist, faiss.METRIC_INNER_PRODUCT)
    rows = np.sort(np.random.default_rng(0).choice(len(items), min(len(items), 64 * args.nlist), replace=False))
    index.train(items[rows])
    index.add(items)
    index.nprobe = args.nprobe
    plain_build_s = time.perf_counter() - start
    start = time.perf_counter()
    _, plain = index.search(queries, args.k)
    plain_s = time.perf_counter() - start
    print(
        f"IVF nlist={args.nlist} nprobe={args.nprobe}, {args.queries:,} queries x {args.items:,} items x "
        f"d={args.dim}, k={args.k}:"
    )
    print(f"  exact (PreparedPool)        search {exact_s:7.1f} s")
    print(
        f"  ours  (PreparedPool ivf)    train+add {build_s:6.1f} s  search {ours_s:6.2f} s  "
        f"recall@{args.k} {recall_at_k(found, truth):.3f}  {exact_s / ours_s:.1f}x faster than exact"
    )
    print(
        f"  faiss IndexIVFFlat          train+add {plain_build_s:6.1f} s  search {plain_s:6.2f} s  "
        f"recall@{args.k} {recall_at_k(plain, truth):.3f}  [{load_average()}]"
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
    parser.add_argument("--nlist", type=int, default=4096)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=65_536, help="export: captions per chunk")
    parser.add_argument("--device", default="cpu")
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
