"""The CPU fp32 GEMM of k-means sweeps (sampling/cpu_gemm.py): whichever of torch's GEMMs
runs it, a score is computed the same way whatever the call's shape, which is what lets
bounded sweeps (kmeans_bounds) equal plain ones bit for bit."""

import numpy as np
import pytest
import torch

import sampling.cpu_gemm
from sampling.cpu_gemm import has_onednn_gemm
from sampling.cpu_gemm import Fp32Keys
from sampling.kmeans import kmeans

GEMMS = ["mkl"] + (["onednn"] if has_onednn_gemm() else [])


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("dim", [48, 256])
def test_a_score_does_not_depend_on_the_gemm_shape(gemm, dim):
    rng = torch.Generator().manual_seed(dim)
    rows, keys = torch.randn(3000, dim, generator=rng), torch.randn(900, dim, generator=rng)
    bias = torch.randn(900, generator=rng)
    full = Fp32Keys(keys, bias, gemm).scores(rows)
    some = torch.randperm(900, generator=rng)[:37]
    for subset in (slice(0, 100), slice(417, 900), some):
        part = Fp32Keys(keys[subset], bias[subset], gemm)
        for which in (slice(0, 1), slice(5, 10), slice(100, 116), slice(7, 2055), torch.arange(0, 3000, 9)):
            assert torch.equal(part.scores(rows[which]), full[which][:, subset])


@pytest.mark.parametrize("gemm", GEMMS)
def test_bounded_kmeans_equals_plain_sweeps_with_either_gemm(gemm, monkeypatch):
    monkeypatch.setattr(sampling.cpu_gemm, "cpu_fp32_gemm", lambda: gemm)
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(400, 40))[rng.integers(0, 400, 8000)] + 0.4 * rng.normal(size=(8000, 40))).astype(np.float32)
    plain = kmeans(x, 410, iterations=6, seed=1, bounds=False, backend="torch")
    bounded = kmeans(x, 410, iterations=6, seed=1, bounds=True)
    assert np.array_equal(plain.labels, bounded.labels)
    assert np.array_equal(plain.centroids, bounded.centroids)
    assert np.array_equal(plain.sq_distances, bounded.sq_distances)
