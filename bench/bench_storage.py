"""Object store against the local file system, side by side in one run (issue 14).

    .venv/bin/python bench/bench_storage.py --items 1000000 --dim 512

1. Import: the same bundle (N items with D-d vectors, remote media) imported with the
   local backend, then with the object store (SeaweedFS on 127.0.0.1:8333, started by
   ./run test, or PAIRRATE_BENCH_S3_ENDPOINT): target S3 <= 1.5x local.
2. A match part's work: gather the space's item vectors from their shards
   (annotation.vectors.item_vectors) and search Q queries for their top-16
   (sampling.retrieval.PreparedPool), on the local backend, then on the object store with
   a cold cache (shards downloaded) and a warm one (shards mapped from the cache):
   target warm <= 1.1x local.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_import import reset, write_bundle  # noqa: E402
from common import machine, setup_django  # noqa: E402


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def match_work(queries: np.ndarray) -> float:
    from annotation.models import EmbeddingSpace
    from annotation.vectors import item_vectors
    from sampling.retrieval import PreparedPool

    started = time.perf_counter()
    ids, vectors = item_vectors(EmbeddingSpace.objects.get(name="bench-image"))
    PreparedPool(vectors).search(queries, 16)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1024)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pairrate-bench-storage-"))
    os.environ["PAIRRATE_MEDIA_ROOT"] = str(work / "media")
    setup_django("pairrate_bench_storage")
    from django.conf import settings
    from django.test import override_settings

    from annotation import storage
    from annotation.importing import import_bundle
    from tests.objectstore import ACCESS_KEY, SECRET_KEY, client, new_bucket, shared_endpoint

    endpoint = os.environ.get("PAIRRATE_BENCH_S3_ENDPOINT") or shared_endpoint()
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    bucket = new_bucket(endpoint)
    object_store = dict(
        PAIRRATE_STORAGE_URL=f"s3://{bucket}/bench-{uuid.uuid4().hex[:8]}",
        PAIRRATE_S3_ENDPOINT_URL=endpoint,
        PAIRRATE_STORAGE_CACHE_DIR=work / "cache",
        PAIRRATE_STORAGE_CACHE_BYTES=64 * 1024**3,
        MEDIA_ROOT=work / "s3-scratch",
    )

    bundle = work / "bundle"
    bundle.mkdir()
    write_bundle(bundle, args.items, args.dim)
    queries = np.random.default_rng(5).standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(f"machine: {machine()}; {load_average()}")
    print(
        f"bundle: {args.items:,} items, {args.dim}-d float32 ({args.items * args.dim * 4 / 2**30:.2f} GiB); "
        f"object store: SeaweedFS at {endpoint}; match part: {args.queries} queries, top-16"
    )

    reset()
    local = import_bundle(bundle).seconds
    local_match = min(match_work(queries) for _ in range(2))
    print(f"local file system:  import {local:7.1f} s   match part {local_match:6.2f} s   ({load_average()})")
    reset()
    with override_settings(**object_store):
        s3 = import_bundle(bundle).seconds
        shutil.rmtree(settings.PAIRRATE_STORAGE_CACHE_DIR, ignore_errors=True)  # as another machine would
        cold = match_work(queries)
        warm = min(match_work(queries) for _ in range(2))
        stats = storage.get_store().cache_stats()
    print(
        f"object store:       import {s3:7.1f} s   match part cold {cold:6.2f} s, warm {warm:6.2f} s   "
        f"({load_average()})"
    )
    print(f"cache: {stats['misses']} misses, {stats['hits']} hits, {stats['bytes_fetched'] / 2**30:.2f} GiB fetched")
    print(
        f"ratios: import object store / local = {s3 / local:.2f}x (target <= 1.5x); "
        f"warm match part / local = {warm / local_match:.2f}x (target <= 1.1x); cold = {cold / local_match:.2f}x"
    )
    reset()
    s3_client = client(endpoint)
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    s3_client.delete_bucket(Bucket=bucket)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
