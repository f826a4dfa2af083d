"""Exact top-k of inner products (plus an optional per-key bias) at GEMM speed.

Shared by k-means assignment (k=1, bias = -|c|^2/2) and candidate retrieval.
On the GPU the GEMM may run in bf16 or TF32; candidates are then re-scored in
fp32 and any row whose result the rounding error could have changed is
recomputed in fp32, so every precision returns the fp32 answer.
"""
from __future__ import annotations

import torch

# Unit roundoff of each input format: rounding q and c costs at most 2u+u^2 of
# sum |q_i c_i| <= |q| |c| in each score (Cauchy-Schwarz); fp32 accumulation
# error is covered by the FP32_SLACK term.
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "tf32": 2.0**-11}
FP32_SLACK = 1e-5
PRECISIONS = ("fp32", "tf32", "bf16")


def _scores_fp32(queries: torch.Tensor, keys: torch.Tensor, key_bias: torch.Tensor | None):
    if key_bias is None:
        return queries @ keys.T
    return torch.addmm(key_bias, queries, keys.T)


def _scores_low_precision(queries, keys_low, key_bias, precision):
    if precision == "bf16":
        scores = (queries.to(torch.bfloat16) @ keys_low.T).float()
    else:  # tf32: fp32 storage, reduced-precision tensor-core multiply
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            scores = queries @ keys_low.T
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    if key_bias is not None:
        scores += key_bias
    return scores


def _topk(scores: torch.Tensor, k: int):
    if k == 1:
        values, indices = scores.max(dim=1, keepdim=True)
        return values, indices
    return scores.topk(k, dim=1)


class KeySet:
    """Keys prepared once (low-precision copy, norms) and searched many times."""

    def __init__(self, keys: torch.Tensor, key_bias: torch.Tensor | None = None, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.keys = keys.float().contiguous()
        self.key_bias = None if key_bias is None else key_bias.float().contiguous()
        self.precision = precision
        self.keys_low = self.keys.to(torch.bfloat16) if precision == "bf16" else self.keys
        self.max_key_norm = float(self.keys.norm(dim=1).max()) if len(self.keys) else 0.0

    def __len__(self) -> int:
        return self.keys.shape[0]

    def topk(self, queries: torch.Tensor, k: int):
        """(scores fp32 [B,k], indices int64 [B,k]), best first, exact in fp32."""
        queries = queries.float()
        if self.precision == "fp32":
            return _topk(_scores_fp32(queries, self.keys, self.key_bias), k)
        return self._topk_verified(queries, k)

    def _topk_verified(self, queries: torch.Tensor, k: int):
        n_keys = len(self)
        shortlist = min(n_keys, k + max(k, 8))
        approx = _scores_low_precision(queries, self.keys_low, self.key_bias, self.precision)
        approx_values, candidates = approx.topk(shortlist, dim=1)
        del approx
        exact = torch.einsum("bd,bsd->bs", queries, self.keys[candidates])
        if self.key_bias is not None:
            exact += self.key_bias[candidates]
        values, order = exact.topk(k, dim=1)
        indices = candidates.gather(1, order)
        if shortlist == n_keys:
            return values, indices
        # A key outside the shortlist scores at most approx_last + err exactly;
        # rows where that could beat the k-th exact score are redone in fp32.
        u = UNIT_ROUNDOFF[self.precision]
        err = (2 * u + u * u) * queries.norm(dim=1) * self.max_key_norm
        err = err + FP32_SLACK * (1 + approx_values[:, 0].abs())
        unsure = values[:, -1] <= approx_values[:, -1] + 2 * err
        if bool(unsure.any()):
            rows = unsure.nonzero().squeeze(1)
            redo_values, redo_indices = _topk(_scores_fp32(queries[rows], self.keys, self.key_bias), k)
            values[rows] = redo_values
            indices[rows] = redo_indices
        return values, indices
