"""Benchmark `match`: exact top-k retrieval, queries/s against faiss IndexFlatIP (CPU) or
plain matmul+topk (GPU) on the same data.

CPU:  python bench/bench_match.py --queries 20000 --items 200000
GPU:  python bench/bench_match.py --queries 100000 --items 1000000 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_common import Timer, machine_summary, synthetic_embeddings

from sampling.retrieval import search


def faiss_flat_ip(queries: np.ndarray, items: np.ndarray, k: int):
    import faiss

    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    return index.search(queries, k)


def torch_matmul_topk(queries: np.ndarray, items: np.ndarray, k: int, device: str, dtype=torch.float32):
    """The plain GPU limit: items resident, one matmul + topk per query chunk, no re-check
    (query chunks sized like ours: a 2^30-element score matrix)."""
    chunk = max(256, (1 << 30) // len(items))
    keys = torch.from_numpy(items).to(device).to(dtype)
    ids = []
    for start in range(0, len(queries), chunk):
        q = torch.from_numpy(queries[start : start + chunk]).to(device).to(dtype)
        ids.append((q @ keys.T).topk(k, dim=1).indices.cpu())
    return torch.cat(ids).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default=None, help="fp32, tf32 or bf16 (GPU; re-checked to fp32)")
    args = parser.parse_args()

    print(machine_summary(args.device))
    items, _ = synthetic_embeddings(args.items, args.dim, 1000, seed=1, device=args.device)
    queries, _ = synthetic_embeddings(args.queries, args.dim, 1000, seed=2, device=args.device)
    if args.device != "cpu":
        search(queries[:1000], items[:10000], k=args.k, device=args.device, precision=args.precision)  # warm-up
    with Timer() as ours:
        _, ids = search(queries, items, k=args.k, device=args.device, precision=args.precision)
    if args.device == "cpu":
        name = "faiss IndexFlatIP"
        with Timer() as baseline:
            _, baseline_ids = faiss_flat_ip(queries, items, args.k)
        agreement = float((ids == baseline_ids).mean())
        print(
            f"match {args.queries} x {args.items} x {args.dim}, k={args.k} on {args.device}: "
            f"ours {args.queries / ours.seconds:,.0f} queries/s ({ours.seconds:.2f} s), "
            f"{name} {args.queries / baseline.seconds:,.0f} queries/s ({baseline.seconds:.2f} s), "
            f"ratio {baseline.seconds / ours.seconds:.2f}x; same ids: {agreement:.4f}"
        )
        return
    print(
        f"match {args.queries} x {args.items} x {args.dim}, k={args.k} on {args.device} "
        f"({args.precision or 'default'} precision, fp32-exact): ours {args.queries / ours.seconds:,.0f} queries/s "
        f"({ours.seconds:.2f} s, incl. host->GPU copy of the items)"
    )
    for dtype in (torch.float32, torch.bfloat16):
        torch_matmul_topk(queries[:1000], items, args.k, args.device, dtype=dtype)  # warm-up
        with Timer() as baseline:
            baseline_ids = torch_matmul_topk(queries, items, args.k, args.device, dtype=dtype)
        print(
            f"  plain matmul+topk {str(dtype).removeprefix('torch.')}: {args.queries / baseline.seconds:,.0f} "
            f"queries/s ({baseline.seconds:.2f} s); ours / plain time: {ours.seconds / baseline.seconds:.2f}x; "
            f"same ids as ours: {float((ids == baseline_ids).mean()):.4f}"
        )


if __name__ == "__main__":
    main()
