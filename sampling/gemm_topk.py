"""Exact top-k of inner products (plus an optional per-key bias) at GEMM speed.

Shared by k-means assignment (k=1, bias = -|c|^2/2) and candidate retrieval. On the
CPU, k > 1 in fp32 skips torch's top-k (sampling.threshold_topk): exact, every tie
settled by the smaller index.
On the GPU the GEMM may run in bf16 or TF32; candidates are then re-scored in
fp32 and any row whose result the rounding error could have changed is
recomputed in fp32, so every precision returns the fp32 answer.
"""

from __future__ import annotations

import torch

from sampling.threshold_topk import Survivors

# Bound on |low-precision score - fp32 score| per unit of |q| |c|: rounding q and c
# costs at most 2u+u^2 of sum |q_i c_i| <= |q| |c| (Cauchy-Schwarz); a bf16 GEMM also
# rounds its output (another 2^-9, counted as 2^-8). fp32 accumulation error is
# covered by the FP32_SLACK term.
ERROR_PER_NORM = {"bf16": 2 * 2.0**-8 + 2.0**-16 + 2.0**-8, "tf32": 2 * 2.0**-11 + 2.0**-22}
FP32_SLACK = 1e-5
# Rows still unsure after the first shortlist are re-scored exactly on every key that
# could win, gathered in batches of at most GATHER_BUDGET key-vector elements; rows with
# more such keys than WIDE_SHORTLIST_MAX (or 1/32 of all keys, where gathering stops
# paying against a GEMM row) fall back to one fp32 GEMM.
WIDE_SHORTLIST_MAX = 4096
GATHER_BUDGET = 1 << 28
PRECISIONS = ("fp32", "tf32", "bf16")


def _scores_fp32(queries: torch.Tensor, keys: torch.Tensor, key_bias: torch.Tensor | None):
    if key_bias is None:
        return queries @ keys.T
    return torch.addmm(key_bias, queries, keys.T)


def _scores_low_precision(queries, keys_low, key_bias, precision):
    if precision == "bf16":
        scores = (queries.to(torch.bfloat16) @ keys_low.T).float()
        if key_bias is not None:
            scores += key_bias
        return scores
    # tf32: fp32 storage, reduced-precision tensor-core multiply; the bias rides in the
    # GEMM's epilogue (addmm) instead of another pass over the score matrix
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        return queries @ keys_low.T if key_bias is None else torch.addmm(key_bias, queries, keys_low.T)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def _topk(scores: torch.Tensor, k: int):
    if k == 1:
        values, indices = scores.max(dim=1, keepdim=True)
        return values, indices
    return scores.topk(k, dim=1)


# k = 1 on the CPU (k-means assignment): keys are scanned in blocks of this many, merging
# a running best, so a [queries, block] score matrix stays bounded however big the pool is.
CPU_KEY_BLOCK = 8192


def _blocked_topk_fp32(queries, keys, key_bias, k: int, block: int):
    """fp32 top-k over key blocks; equal to one GEMM + top-k over all keys."""
    best_values = best_indices = None
    for start in range(0, keys.shape[0], block):
        bias = None if key_bias is None else key_bias[start : start + block]
        values, indices = _topk(
            _scores_fp32(queries, keys[start : start + block], bias), min(k, block, keys.shape[0] - start)
        )
        indices += start
        if best_values is not None:  # merge with the running top-k
            values = torch.cat([best_values, values], dim=1)
            values, order = values.topk(min(k, values.shape[1]), dim=1)
            indices = torch.cat([best_indices, indices], dim=1).gather(1, order)
        best_values, best_indices = values, indices
    return best_values, best_indices


# k > 1 on the CPU: no top-k kernel over the score blocks (torch's costs about 2 ns a
# score on top of the GEMM's), but sampling.threshold_topk's survivors of a running lower
# bound on the k-th score, sorted once; blocks of [EXACT_QUERY_BLOCK, EXACT_KEY_BLOCK]
# scores (8 MB), one GEMM each, taken by torch's threads as workers.
EXACT_QUERY_BLOCK = 512
EXACT_KEY_BLOCK = 4096


def _threshold_topk_fp32(queries, keys, key_bias, k: int):
    """fp32 top-k, ties by the smaller index (every tie settled); -inf / -1 past the keys."""
    b, n = queries.shape[0], keys.shape[0]
    blocks = [
        (slice(q0, min(q0 + EXACT_QUERY_BLOCK, b)), lo, min(lo + EXACT_KEY_BLOCK, n))
        for lo in range(0, n, EXACT_KEY_BLOCK)
        for q0 in range(0, b, EXACT_QUERY_BLOCK)
    ]
    scores, indices = Survivors(queries.contiguous(), k, keys, key_bias=key_bias).run(blocks)
    return torch.from_numpy(scores), torch.from_numpy(indices)


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
        self.max_abs_bias = 0.0 if key_bias is None or not len(key_bias) else float(self.key_bias.abs().max())

    def __len__(self) -> int:
        return self.keys.shape[0]

    def topk(self, queries: torch.Tensor, k: int, exact: bool = True):
        """(scores fp32 [B,k], indices int64 [B,k]), best first. fp32 on the CPU with k > 1:
        ties by the smaller index, exactly.

        In low precision the best keys of the low-precision GEMM are always re-scored
        in fp32, which settles near ties among them. With `exact` the result is fp32's
        even where the rounding bound cannot rule out a key beyond that shortlist;
        without it such a row keeps the shortlist's best, which scores within twice
        the rounding bound (about 2^-9 |q||c| in TF32) of the true best - fine for
        k-means assignment, where near-equidistant centroids are common and proving
        the exact winner would cost an fp32 GEMM.
        """
        queries = queries.float()
        if self.precision == "fp32":
            if self.keys.device.type == "cpu" and k > 1:
                return _threshold_topk_fp32(queries, self.keys, self.key_bias, k)
            if self.keys.device.type == "cpu" and len(self) > CPU_KEY_BLOCK:
                return _blocked_topk_fp32(queries, self.keys, self.key_bias, k, CPU_KEY_BLOCK)
            return _topk(_scores_fp32(queries, self.keys, self.key_bias), k)
        return self._topk_verified(queries, k, exact)

    def _exact(self, queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """fp32 scores of each query against its own candidate keys [B, S]."""
        exact = torch.einsum("bd,bsd->bs", queries, self.keys[candidates])
        if self.key_bias is not None:
            exact += self.key_bias[candidates]
        return exact

    def _shortlist_topk(self, queries, approx, width: int, k: int):
        """Exact top-k among each row's `width` best approximate keys, and the
        approximate score of the width-th key (what any key left out is at most)."""
        approx_values, candidates = approx.topk(width, dim=1)
        values, order = self._exact(queries, candidates).topk(k, dim=1)
        return values, candidates.gather(1, order), approx_values[:, -1]

    def _topk_verified(self, queries: torch.Tensor, k: int, exact: bool):
        n_keys = len(self)
        approx = _scores_low_precision(queries, self.keys_low, self.key_bias, self.precision)
        values, indices, cut = self._shortlist_topk(queries, approx, min(n_keys, k + max(k, 8)), k)
        if n_keys <= k + max(k, 8) or not exact:
            return values, indices
        # exact - approx lies within +-err, so a key outside the shortlist scores at
        # most cut + err exactly; rows where that could reach the k-th exact score are
        # re-scored on every key whose approximate score comes within 2 err of it.
        bound = queries.norm(dim=1) * self.max_key_norm
        err = ERROR_PER_NORM[self.precision] * bound + FP32_SLACK * (1 + bound + self.max_abs_bias)
        unsure = (values[:, -1] <= cut + 2 * err).nonzero().squeeze(1)
        if len(unsure):
            self._settle(queries, approx, values, indices, unsure, (values[:, -1] - 2 * err)[unsure], k)
        return values, indices

    def _settle(self, queries, approx, values, indices, rows, thresholds, k: int) -> None:
        """Exact top-k for `rows` (in place): every key with approx >= threshold may win.
        Rows go in order of how many keys that is, so a batch's width fits its rows."""
        needed = (approx[rows] >= thresholds[:, None]).sum(dim=1)
        wide = needed <= min(WIDE_SHORTLIST_MAX, max(k, len(self) // 32))
        if bool(wide.any()):
            order = needed[wide].argsort()
            narrow_rows, widths = rows[wide][order], needed[wide][order].cpu()
            start = 0
            while start < len(narrow_rows):
                width = max(k, int(widths[min(start + 255, len(widths) - 1)]))
                step = min(256, max(1, GATHER_BUDGET // (width * queries.shape[1])))
                batch = narrow_rows[start : start + step]
                values[batch], indices[batch], _ = self._shortlist_topk(queries[batch], approx[batch], width, k)
                start += len(batch)
        if not bool(wide.all()):
            full_rows = rows[~wide]
            values[full_rows], indices[full_rows] = _topk(_scores_fp32(queries[full_rows], self.keys, self.key_bias), k)
