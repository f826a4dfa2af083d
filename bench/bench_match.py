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


def torch_matmul_topk(queries: np.ndarray, items: np.ndarray, k: int, device: str, chunk: int = 8192):
    keys = torch.from_numpy(items).to(device)
    ids = []
    for start in range(0, len(queries), chunk):
        q = torch.from_numpy(queries[start : start + chunk]).to(device)
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
    items, _ = synthetic_embeddings(args.items, args.dim, 1000, seed=1)
    queries, _ = synthetic_embeddings(args.queries, args.dim, 1000, seed=2)
    with Timer() as ours:
        _, ids = search(queries, items, k=args.k, device=args.device, precision=args.precision)
    if args.device == "cpu":
        name = "faiss IndexFlatIP"
        with Timer() as baseline:
            _, baseline_ids = faiss_flat_ip(queries, items, args.k)
    else:
        name = "torch matmul+topk fp32"
        torch_matmul_topk(queries[:1000], items, args.k, args.device)  # warm-up
        with Timer() as baseline:
            baseline_ids = torch_matmul_topk(queries, items, args.k, args.device)
    agreement = float((ids == baseline_ids).mean())
    print(f"match {args.queries} x {args.items} x {args.dim}, k={args.k} on {args.device}: "
          f"ours {args.queries / ours.seconds:,.0f} queries/s ({ours.seconds:.2f} s), "
          f"{name} {args.queries / baseline.seconds:,.0f} queries/s ({baseline.seconds:.2f} s), "
          f"ratio {baseline.seconds / ours.seconds:.2f}x; same ids: {agreement:.4f}")


if __name__ == "__main__":
    main()
