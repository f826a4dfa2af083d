"""Candidate retrieval: exactness, shards, hubness correction, IVF, bad input."""

import numpy as np
import pytest
import torch

from sampling.gemm_topk import KeySet
from sampling.retrieval import PreparedPool, item_hubness, merge_topk, search, search_shards

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 32)).astype(np.float32), rng.normal(size=(3000, 32)).astype(np.float32)


def brute_force(queries, items, k):
    scores = queries.astype(np.float64) @ items.T.astype(np.float64)
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


def test_exact_search_matches_brute_force(vectors):
    queries, items = vectors
    scores, ids = search(queries, items)
    want_scores, want_ids = brute_force(queries, items, 16)
    assert scores.shape == ids.shape == (400, 16)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert (ids == want_ids).mean() > 0.999
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)


@pytest.mark.parametrize("backend", ["faiss", "torch"])  # the CPU picks one by hardware; both must be exact
def test_both_cpu_backends_match_brute_force_beyond_one_key_block(monkeypatch, backend):
    import sampling.retrieval

    monkeypatch.setattr(sampling.retrieval, "cpu_gemm_backend", lambda: backend)
    rng = np.random.default_rng(5)
    queries = rng.normal(size=(300, 16)).astype(np.float32)
    items = rng.normal(size=(20000, 16)).astype(np.float32)  # > CPU_KEY_BLOCK: merged across blocks
    scores, ids = search(queries, items, k=16, device="cpu")
    want_scores, want_ids = brute_force(queries, items, 16)
    assert (ids == want_ids).mean() > 0.999
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    corrected = search(queries, items, k=16, device="cpu", hubness_correction=True)
    hub = item_hubness(queries, items, k=16, device="cpu")
    want = 2 * (queries.astype(np.float64) @ items.T.astype(np.float64)) - hub
    np.testing.assert_allclose(corrected[0], -np.sort(-want, axis=1)[:, :16], atol=1e-4)


def test_memory_mapped_queries_in_chunks_report_progress(vectors, tmp_path):
    queries, items = vectors
    np.save(tmp_path / "q.npy", queries)
    seen = []
    scores, ids = search(np.load(tmp_path / "q.npy", mmap_mode="r"), items, k=5, chunk_rows=64, progress=seen.append)
    assert sum(seen) == len(queries) and len(seen) == 7
    assert np.array_equal(ids, search(queries, items, k=5)[1])


def test_shards_merge_to_the_full_search(vectors):
    queries, items = vectors
    full_scores, full_ids = search(queries, items, k=10)
    scores, ids = search_shards(queries, [items[:700], items[700:2100], items[2100:]], k=10)
    assert np.array_equal(ids, full_ids)
    np.testing.assert_allclose(scores, full_scores, atol=1e-5)


def test_merge_topk_orders_by_score_then_id_and_puts_missing_last():
    a = (np.array([[0.9, 0.5]], dtype=np.float32), np.array([[7, 3]]))
    b = (np.array([[0.5, 0.1]], dtype=np.float32), np.array([[2, -1]]))
    scores, ids = merge_topk([a, b], k=3)
    assert ids.tolist() == [[7, 2, 3]]
    np.testing.assert_allclose(scores, [[0.9, 0.5, 0.5]])
    assert merge_topk([b], k=2)[1].tolist() == [[2, -1]]


def test_hubness_correction_is_csls_and_demotes_hubs(vectors):
    queries, items = vectors
    direction = np.zeros(queries.shape[1], dtype=np.float32)
    direction[0] = 1
    queries = queries + 1.5 * direction  # queries share a direction ...
    items = items.copy()
    items[0] = 20 * direction  # ... so an item along it is close to all of them: a hub
    plain_ids = search(queries, items, k=5)[1]
    scores, ids = search(queries, items, k=5, hubness_correction=True)
    r = item_hubness(queries, items, k=16).astype(np.float64)
    corrected = 2 * queries.astype(np.float64) @ items.T.astype(np.float64) - r
    want = np.argsort(-corrected, axis=1)[:, :5]
    assert (ids == want).mean() > 0.999
    np.testing.assert_allclose(scores, np.take_along_axis(corrected, want, 1), atol=1e-3)
    assert (plain_ids == 0).any(axis=1).mean() > 0.5
    assert (ids == 0).any(axis=1).mean() < (plain_ids == 0).any(axis=1).mean() / 2


def test_ivf_is_exact_when_probing_every_list_and_approximate_otherwise(vectors):
    queries, items = vectors
    exact = search(queries, items, k=8)[1]
    assert np.array_equal(search(queries, items, k=8, method="ivf", nlist=16, nprobe=16)[1], exact)
    approx = search(queries, items, k=8, method="ivf", nlist=16, nprobe=2)[1]
    recall = np.mean([len(set(a) & set(b)) / 8 for a, b in zip(approx, exact)])
    assert 0.1 < recall < 1.0
    # CSLS rides along as an extra dimension of the IVF pool, as it does for faiss
    corrected = search(queries, items, k=8, hubness_correction=True)
    ivf_corrected = search(queries, items, k=8, method="ivf", nlist=16, nprobe=16, hubness_correction=True)
    assert (ivf_corrected[1] == corrected[1]).mean() > 0.999
    np.testing.assert_allclose(ivf_corrected[0], corrected[0], atol=1e-4)


def test_prepared_ivf_pool_returns_global_ids_ties_by_the_smaller_id():
    rng = np.random.default_rng(8)
    items = rng.integers(-2, 3, size=(3000, 6)).astype(np.float32)  # exact fp32 scores, many ties
    queries = rng.integers(-2, 3, size=(200, 6)).astype(np.float32)
    ids = rng.permutation(100_000)[:3000]
    ivf = PreparedPool(items, ids=ids, method="ivf", nlist=8, nprobe=8, seed=3)
    scores, found = ivf.search(queries, 16)
    exact = queries.astype(np.float64) @ items.T.astype(np.float64)
    order = np.lexsort((np.broadcast_to(ids, exact.shape), -exact), axis=1)[:, :16]
    assert np.array_equal(found, ids[order])
    assert np.array_equal(scores, np.take_along_axis(exact, order, 1).astype(np.float32))


def by_score_then_id(queries, items, ids, k, bias=None):
    """Brute force in float64 (exact for small integers): top-k by score, ties by the smaller id."""
    exact = queries.astype(np.float64) @ items.T.astype(np.float64) + (0 if bias is None else bias)
    order = np.lexsort((np.broadcast_to(ids, exact.shape), -exact), axis=1)[:, :k]
    return np.take_along_axis(exact, order, 1).astype(np.float32), ids[order]


@pytest.mark.parametrize(
    "backend, precision",
    [("torch", None), ("faiss", None), ("torch", "bf16")],
    ids=["threshold top-k", "faiss + re-search", "bf16 + re-search"],
)
def test_prepared_exact_pool_settles_any_number_of_exact_ties_by_the_smaller_id(monkeypatch, backend, precision):
    """27 distinct vectors, each ~110 times: the k-th score's ties reach far past k + TIE_MARGIN."""
    import sampling.retrieval

    monkeypatch.setattr(sampling.retrieval, "cpu_gemm_backend", lambda: backend)
    rng = np.random.default_rng(9)
    items = rng.integers(-1, 2, size=(3000, 3)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(300, 3)).astype(np.float32)
    ids = rng.permutation(100_000)[:3000]  # not in row order
    pool = PreparedPool(items, ids=ids, device="cpu", precision=precision)
    for k in (1, 16, 40):
        scores, found = pool.search(queries, k)
        want_scores, want_ids = by_score_then_id(queries, items, ids, k)
        assert np.array_equal(found, want_ids) and np.array_equal(scores, want_scores)


def test_cpu_fp32_topk_over_many_blocks_is_exact_with_ties_and_a_bias(monkeypatch, workers):
    import sampling.gemm_topk

    monkeypatch.setattr(sampling.gemm_topk, "EXACT_QUERY_BLOCK", 64)  # 5 query blocks ...
    monkeypatch.setattr(sampling.gemm_topk, "EXACT_KEY_BLOCK", 1000)  # ... x 5 key blocks, the last short
    rng = np.random.default_rng(10)
    keys = rng.integers(-2, 3, size=(4100, 6)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(300, 6)).astype(np.float32)
    bias = rng.integers(-3, 4, size=4100).astype(np.float32)
    for key_bias in (None, bias):
        keyset = KeySet(torch.from_numpy(keys), None if key_bias is None else torch.from_numpy(key_bias))
        scores, found = keyset.topk(torch.from_numpy(queries), 20)
        want_scores, want_ids = by_score_then_id(queries, keys, np.arange(4100), 20, key_bias)
        assert np.array_equal(found.numpy(), want_ids) and np.array_equal(scores.numpy(), want_scores)
    assert torch.get_num_threads() == workers


def test_low_precision_topk_is_rechecked_to_fp32():
    rng = np.random.default_rng(1)
    keys = rng.normal(size=(500, 64)).astype(np.float32)
    keys[250:] = keys[:250] + 1e-3 * rng.normal(size=(250, 64)).astype(np.float32)  # near-duplicate keys
    queries = torch.from_numpy(rng.normal(size=(300, 64)).astype(np.float32))
    fp32_scores, fp32_ids = KeySet(torch.from_numpy(keys)).topk(queries, 16)
    bf16_scores, bf16_ids = KeySet(torch.from_numpy(keys), precision="bf16").topk(queries, 16)
    torch.testing.assert_close(bf16_scores, fp32_scores, atol=1e-4, rtol=1e-5)
    assert (bf16_ids == fp32_ids).float().mean() > 0.99


@pytest.mark.parametrize("crowd", [1000, 6000])  # re-scored from a wide shortlist / by one fp32 GEMM
def test_low_precision_topk_settles_crowded_near_ties(crowd):
    """Many keys within bf16 rounding of the best: the answer is still fp32's."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(1, 32)).astype(np.float32)
    keys = np.concatenate([base + 1e-3 * rng.normal(size=(crowd, 32)), rng.normal(size=(500, 32))]).astype(np.float32)
    queries = torch.from_numpy((base + 0.1 * rng.normal(size=(40, 32))).astype(np.float32))
    bias = torch.from_numpy(-0.5 * (keys * keys).sum(1))
    for k, precision in ((1, "bf16"), (16, "bf16"), (16, "tf32")):  # (tf32 is plain fp32 on a CPU)
        fp32_scores, fp32_ids = KeySet(torch.from_numpy(keys), bias).topk(queries, k)
        bf16_scores, bf16_ids = KeySet(torch.from_numpy(keys), bias, precision=precision).topk(queries, k)
        torch.testing.assert_close(bf16_scores, fp32_scores, atol=1e-5, rtol=1e-6)
        # the keys returned really score that (ids may differ only between fp32-equal keys)
        rescored = (queries.double()[:, None, :] * torch.from_numpy(keys).double()[bf16_ids]).sum(-1) + bias.double()[
            bf16_ids
        ]
        torch.testing.assert_close(rescored.float(), fp32_scores, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("bad", ["dims", "nan", "inf", "k_too_big", "k_zero"])
def test_bad_input_raises_value_error(vectors, bad):
    queries, items = vectors[0].copy(), vectors[1][:20].copy()
    k = 16
    if bad == "dims":
        items = items[:, :31]
    elif bad == "nan":
        queries[3, 3] = np.nan
    elif bad == "inf":
        items[2, 0] = np.inf
    elif bad == "k_too_big":
        k = 21
    else:
        k = 0
    with pytest.raises(ValueError):
        search(queries, items, k=k)


@needs_cuda
def test_cuda_matches_cpu(vectors):
    queries, items = vectors
    cpu_scores, cpu_ids = search(queries, items, k=16, device="cpu")
    for precision in ("fp32", "tf32", "bf16"):
        scores, ids = search(queries, items, k=16, device="cuda", precision=precision)
        assert (ids == cpu_ids).mean() > 0.999
        np.testing.assert_allclose(scores, cpu_scores, atol=1e-4)
