"""Lloyd sweeps that skip arithmetic whose outcome is already known (Yinyang bounds).

Ding et al. 2015 ("Yinyang K-means"): centroids are split once into groups of nearby
centroids; each row keeps an upper bound on the distance to its own centroid and, per
group, a lower bound on the distance to every other centroid of the group. When the
centroids move, the bounds loosen by how far they moved (triangle inequality). A row
scores only the groups whose bound fails; rows needing the same groups are scored
together in tiles, one GEMM each, so the work left still runs at GEMM speed.

Where the CPU multiplies bf16 natively (AVX-512 BF16, AMX), rows that need several
groups are screened first with a bf16 GEMM (about twice the fp32 rate there): with a
proven bound on its rounding error, only the groups that could still hold the winner
are scored in fp32, one GEMM per group over the rows that need it; the others get lower
bounds from the bf16 scores.

Exactness: every result equals the plain fp32 sweep's bit for bit. Bounds are widened
by the fp32 rounding error of a GEMM distance (`ROUNDING`), so a label is kept only
when every other centroid is farther by more than what rounding could change; every
fp32 score that is computed is a GEMM entry computed as the plain sweep's GEMM computes
it (sampling.cpu_gemm, the same GEMM), and a row's own group is scored with the groups
it needs unless the bf16 screen rules it out; bf16 scores only ever rule groups out, or
settle a row, by more than their error bound plus the fp32 rounding; and centroid sums
are accumulated over the plain sweep's row chunks. Only exactly tied scores may resolve
to another of the tied centroids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sampling.device import cpu_has_amx, cpu_has_fast_bf16
from sampling.cpu_gemm import Fp32Keys, onednn_pack, onednn_scores
from sampling.rows import to_tensor

# Centroids per group: big enough that a group's GEMM runs near full speed, small
# enough that most groups are pruned once the centroids settle.
GROUP_SIZE = 100
# Rows are processed in blocks of this many; the rows of a block that need scoring are
# sorted by the set of groups they need and scored in tiles of TILE_ROWS against the
# union of their sets. First sweeps without the screen score every group, in tiles that
# keep the score matrix at FULL_TILE_ELEMENTS.
BLOCK_ROWS = 1 << 17
TILE_ROWS = 512
FULL_TILE_ELEMENTS = 1 << 23
# Rows needing at least this many groups are screened in bf16 first (where it is fast),
# against all keys in pieces of WIDE_SCREEN_ROWS rows (a first sweep screens every row so;
# small pieces keep the score matrix in cache: 256 rows ran 1.3x faster than 2048 on the
# AMD EPYC VM of docs/benchmarks.md; AMX tiles want taller calls: 512 rows ran 1.2x
# faster than 256 on the Intel Xeon VM), or one group at a time in pieces of SCREEN_ROWS.
SCREEN_MIN_GROUPS = 3
WIDE_SCREEN_ROWS = 512 if cpu_has_amx() else 256
SCREEN_ROWS = 2048
# Rows needing at least this share of the groups are screened against all keys at once.
# With AMX, a wide screen costs less than gathering a row for each group it needs (0.9x
# the time on concept data there), so every screened row is screened wide.
WIDE_SCREEN_GROUPS = 0.0 if cpu_has_amx() else 0.5
# Relative fp32 error of a d-term dot product, per term, doubled for safety: the
# computed squared distance is within ROUNDING * (d + 4) * (|x| + |c|_max)^2 of the true.
ROUNDING = 2.0 * 2.0**-24
# fp32 bound arithmetic rounds; widen each update by this relative amount.
WIDEN = 2.0**-20
# bf16 unit roundoff (8 significant bits). oneDNN's bf16 GEMM (like cuBLAS, and as
# gemm_topk assumes on the GPU) multiplies the bf16 values x^, c^ exactly, accumulates in
# fp32, adds the bias b^ and rounds the output o once, so the true score s = x.c + b of the
# fp32 values satisfies |s - o| <= u|o| + E with
#   E = |x - x^| |c| + |x^| |c - c^| + |b - b^| + gamma (|x^||c^| + |b^|) + denormals,
# the rounding residuals measured on the actual rows and centroids (Cauchy-Schwarz on
# (x^ - x).c + x^.(c^ - c)), typically ~0.4u of the norms against the worst case u.
# o -> o +- u|o| is monotone, so a group's bounds need only its largest o.
# test_kmeans_bounds checks the bound, cancelling rows included.
BF16_UNIT = 2.0**-8
# Margins for the bound's own fp32 arithmetic: on u|o|, and on E (its norms, computed in
# fp32 with relative error below d 2^-24, and factors rounded up).
OUTPUT_ROUNDING = BF16_UNIT * (1 + 2.0**-6)
ROUND_UP = 1 + 2.0**-10
# VDPBF16PS treats bf16 denormals as zero and flushes denormal results: at most the
# smallest normal times the other factor per term, and the smallest normal per step.
TINY = float(torch.finfo(torch.float32).tiny)


def centroid_groups(centroids: torch.Tensor, group_size: int, seed: int) -> torch.Tensor:
    """A permutation of the centroids into consecutive groups of `group_size` nearby ones
    (k-means of the centroids, then cut into equal runs; the last group may be smaller)."""
    from sampling.kmeans import kmeans  # late: kmeans imports this module

    k = centroids.shape[0]
    n_groups = -(-k // group_size)
    if n_groups <= 1:
        return torch.arange(k)
    coarse = kmeans(centroids.cpu().numpy(), n_groups, iterations=5, seed=seed, bounds=False)
    rank = np.empty(n_groups, dtype=np.int64)
    rank[_nearest_neighbour_chain(coarse.centroids)] = np.arange(n_groups)
    return torch.from_numpy(np.lexsort((np.arange(k), rank[coarse.labels])))


def _nearest_neighbour_chain(points: np.ndarray) -> np.ndarray:
    """An order of the points in which neighbours tend to be adjacent (greedy chain from
    the point farthest from the mean): a row's groups then mostly have nearby numbers, so
    rows sorted by their set of groups share most of them."""
    distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    current = int(((points - points.mean(axis=0)) ** 2).sum(axis=1).argmax())
    order, left = [current], np.ones(len(points), dtype=bool)
    left[current] = False
    while left.any():
        current = int(np.where(left, distances[current], np.inf).argmin())
        order.append(current)
        left[current] = False
    return np.array(order)


class YinyangState:
    """Per-row bounds carried from one sweep to the next, for one k-means run.

    `upper[i]` >= distance of row i to its centroid, `lower[i, g]` <= distance of row i
    to every centroid of group g other than its own; `labels` index the caller's centroids.
    Centroids sit in `slots`, group after group, each group padded to `group_size` with
    slots that never win (bias -inf), so scores of all keys reshape to [rows, groups, size].
    `screen` (default: where the CPU has fast bf16) screens rows in bf16 before fp32.
    """

    def __init__(
        self, n: int, centroids: torch.Tensor, seed: int, group_size: int | None = None, screen: bool | None = None
    ):
        group_size = group_size or GROUP_SIZE
        self.k, self.dim = centroids.shape
        self.n_groups = -(-self.k // group_size)
        self.group_size = -(-self.k // self.n_groups)  # groups of (nearly) equal size
        order = centroid_groups(centroids, self.group_size, seed)
        self.centroid_at = torch.full((self.n_groups * self.group_size,), -1, dtype=torch.int64)
        self.centroid_at[: self.k] = order  # slots of the last group past k stay padding
        self.slot_of = torch.empty(self.k, dtype=torch.int64)
        self.slot_of[order] = torch.arange(self.k)
        self.group_of = self.slot_of // self.group_size
        self.screen = cpu_has_fast_bf16() if screen is None else screen
        self.labels = torch.zeros(n, dtype=torch.int64)
        self.upper = torch.zeros(n, dtype=torch.float32)
        self.lower = torch.zeros((n, self.n_groups), dtype=torch.float32)
        self.previous: torch.Tensor | None = None  # centroids the bounds refer to
        self.scored_pairs = 0  # (row, centroid) distances computed in fp32, for the benchmark
        self.screened_pairs = 0  # of those screened in bf16
        self.decided_rows = 0  # rows whose label the bf16 screen settled alone
        self.sq_norms: torch.Tensor | None = None  # |x|^2 per row, from the first sweep on
        self.rows16: torch.Tensor | None = None  # the rows in bf16 (screening), from the first sweep on
        self.residuals16: torch.Tensor | None = None  # |x - x^| per row (screening)
        self.norms16: torch.Tensor | None = None  # |x^| per row (screening)

    def subset(self, rows: np.ndarray) -> YinyangState:
        """The bounds of some rows only (e.g. a resample), to continue from on those rows."""
        part = object.__new__(YinyangState)
        part.__dict__.update(self.__dict__)
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        part.labels, part.upper, part.lower = self.labels[index], self.upper[index], self.lower[index]
        part.sq_norms = None if self.sq_norms is None else self.sq_norms[index]
        if self.rows16 is not None:
            part.rows16, part.residuals16, part.norms16 = (
                self.rows16[index],
                self.residuals16[index],
                self.norms16[index],
            )
        part.scored_pairs = part.screened_pairs = part.decided_rows = 0
        return part

    def _fill_rows16(self, at: slice, rows: torch.Tensor) -> None:
        """The rows in bf16 with |x - x^| and |x^| (rounded up), which scale the screen's
        error bound. x - x^ is exact in fp32; the norms' fp32 rounding is < ROUND_UP."""
        rows16 = rows.bfloat16()
        self.rows16[at] = rows16
        wide = rows16.float()
        self.residuals16[at] = torch.linalg.vector_norm(rows - wide, dim=1) * ROUND_UP
        self.norms16[at] = torch.linalg.vector_norm(wide, dim=1) * ROUND_UP

    def _loosen(self, centroids: torch.Tensor) -> None:
        """Widen every bound by how far the centroids moved since the bounds were set."""
        drift = (centroids.double() - self.previous.double()).norm(dim=1)
        drift = (drift * (1 + WIDEN)).float()
        group_drift = torch.zeros(self.n_groups, dtype=torch.float32)
        group_drift.scatter_reduce_(0, self.group_of, drift, reduce="amax")
        self.upper += drift[self.labels]
        self.upper *= 1 + WIDEN
        self.lower -= group_drift
        self.lower.clamp_(min=0).mul_(1 - WIDEN)

    def sweep(
        self, x: np.ndarray, centroids: torch.Tensor, on_block: Callable | None = None, with_scores: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Label every row against `centroids` (the caller's order). Returns the labels
        and, `with_scores`, each row's GEMM score x.c - |c|^2/2 for its centroid, the
        values the plain sweep's GEMM gives. Calls `on_block(rows)` per block."""
        centroids = centroids.float().contiguous()
        first = self.previous is None
        if not first:
            self._loosen(centroids)
        keys = _Keys(self, centroids)
        scores = torch.empty(x.shape[0]) if with_scores else None
        fill_norms = self.sq_norms is None  # row norms do not change: computed in the first sweep only
        if fill_norms:
            self.sq_norms = torch.empty(x.shape[0])
            if self.screen:
                self.rows16 = torch.empty((x.shape[0], self.dim), dtype=torch.bfloat16)
                self.residuals16, self.norms16 = torch.empty(x.shape[0]), torch.empty(x.shape[0])
        for start in range(0, x.shape[0], BLOCK_ROWS):
            rows = to_tensor(x[start : start + BLOCK_ROWS], torch.device("cpu"))
            if fill_norms:
                self.sq_norms[start : start + len(rows)] = torch.einsum("ij,ij->i", rows, rows)
                if self.screen:
                    self._fill_rows16(slice(start, start + len(rows)), rows)
            block = _Block(self, start, rows, keys)
            if first:
                block.score_all(with_scores)
            else:
                block.score_unsure(with_scores)
            if scores is not None:
                scores[start : start + len(rows)] = block.own_scores
            if on_block:
                on_block(rows)
        self.previous = centroids.clone()
        return self.labels, scores


def _bf16_scores(rows16: torch.Tensor, packed, keys16: torch.Tensor, bias16: torch.Tensor) -> torch.Tensor:
    """bf16 GEMM scores as fp32 (bf16 reductions are slow): on keys oneDNN packed once
    where it could (1.15-1.35x addmm here), else addmm (the same oneDNN GEMM, which then
    packs the keys on every call)."""
    scores = torch.addmm(bias16, rows16, keys16.T) if packed is None else onednn_scores(rows16, packed, bias16)
    return scores.float()


class _Keys:
    """One sweep's centroids in slot order: fp32 keys and biases -|c|^2/2 (padding slots
    -inf), and for screening their bf16 copies and per-group error factors."""

    def __init__(self, state: YinyangState, centroids: torch.Tensor):
        bias = -0.5 * (centroids * centroids).sum(dim=1)
        slots = state.centroid_at.clamp(min=0)
        real = state.centroid_at >= 0
        self.keys = centroids[slots]
        self.bias = torch.where(real, bias[slots], -torch.inf)
        self.c_max = float(centroids.norm(dim=1).max())
        self.size = state.group_size
        self._group_fp32: dict[int, Fp32Keys] = {}
        self._group16: dict[int, torch.Tensor | None] = {}
        self._fp32: Fp32Keys | None = None
        if state.screen:
            self.keys16, self.bias16 = self.keys.bfloat16(), self.bias.bfloat16()
            self.packed16 = onednn_pack(self.keys16, WIDE_SCREEN_ROWS)
            self._screen_error_factors(state, real)

    def scores16(self, rows16: torch.Tensor) -> torch.Tensor:
        """bf16 GEMM scores x^.c^ + b^ of `rows16` on all keys, as fp32 (bf16 reductions are
        slow): through the keys oneDNN packed once per sweep where it could, else addmm
        (the same oneDNN GEMM, which then packs the keys on every call)."""
        return _bf16_scores(rows16, self.packed16, self.keys16, self.bias16)

    def group_scores16(self, g: int, rows16: torch.Tensor) -> torch.Tensor:
        """`scores16` on group g's keys only (packed once per sweep: 1.35x addmm at
        SCREEN_ROWS rows here)."""
        cols = self.group(g)
        if g not in self._group16:
            self._group16[g] = onednn_pack(self.keys16[cols], SCREEN_ROWS)
        return _bf16_scores(rows16, self._group16[g], self.keys16[cols], self.bias16[cols])

    def _screen_error_factors(self, state: YinyangState, real: torch.Tensor) -> None:
        """Per group, the factors of the bf16 error E (module docstring) that multiply a
        row's |x - x^| and |x^|, and its constant part: group maxima, in float64, rounded up."""
        keys, keys16 = self.keys.double(), self.keys16.double()
        bias, bias16 = torch.where(real, self.bias, 0).double(), torch.where(real, self.bias16.float(), 0).double()
        gamma = 2 * (state.dim + 2) * 2.0**-24  # fp32 accumulation of d products and the bias, doubled

        def group_max(values: torch.Tensor) -> torch.Tensor:
            return torch.where(real, values, 0).view(state.n_groups, -1).amax(dim=1)

        c_norm, c16_norm = group_max(keys.norm(dim=1)), group_max(keys16.norm(dim=1))
        c_residual = group_max((keys - keys16).norm(dim=1))
        flushed = state.dim**0.5 * TINY  # per unit of |x^| or |c^|, for flushed denormal inputs
        constant = group_max((bias - bias16).abs()) + gamma * group_max(bias16.abs())
        self.residual_factor = (c_norm * ROUND_UP).float()
        self.norm_factor = ((c_residual + gamma * c16_norm + flushed) * ROUND_UP).float()
        self.constant_error = ((constant + flushed * c16_norm + (state.dim + 3) * TINY) * ROUND_UP).float()

    def group(self, g: int) -> slice:
        return slice(g * self.size, (g + 1) * self.size)

    @property
    def fp32(self) -> Fp32Keys:
        """All keys, prepared for the fp32 GEMM (sampling.cpu_gemm)."""
        if self._fp32 is None:
            self._fp32 = Fp32Keys(self.keys, self.bias)
        return self._fp32

    def fp32_of(self, slots: torch.Tensor) -> Fp32Keys:
        return Fp32Keys(self.keys.index_select(0, slots), self.bias[slots])

    def group_fp32(self, g: int) -> Fp32Keys:
        """Group g's keys for the fp32 GEMM, prepared once per sweep."""
        if g not in self._group_fp32:
            cols = self.group(g)
            self._group_fp32[g] = Fp32Keys(self.keys[cols], self.bias[cols])
        return self._group_fp32[g]


class _Block:
    """One block of rows in a sweep: views of their bounds, and the GEMMs that score them.
    Rows are given as `index` (block positions), or None for all of the block's rows."""

    def __init__(self, state: YinyangState, start: int, rows: torch.Tensor, keys: _Keys):
        self.state, self.rows, self.keys = state, rows, keys
        at = slice(start, start + rows.shape[0])
        self.rows16 = state.rows16[at] if state.screen else None
        self.residuals16 = state.residuals16[at] if state.screen else None
        self.norms16 = state.norms16[at] if state.screen else None
        self.labels, self.upper, self.lower = state.labels[at], state.upper[at], state.lower[at]
        self.sq_norm = state.sq_norms[at]
        self.tolerance = ROUNDING * (state.dim + 4) * (self.sq_norm.sqrt() + keys.c_max) ** 2
        self.own_scores = torch.full((rows.shape[0],), torch.nan)

    def score_all(self, with_scores: bool) -> None:
        if not self.state.screen:
            self._exact(None, None)
            return
        candidate, decided = self._screen(None, None, decide=not with_scores)
        left = (~decided).nonzero().squeeze(1)
        self._exact(left, candidate[left])

    def score_unsure(self, with_scores: bool) -> None:
        state, upper, lower = self.state, self.upper, self.lower
        # a row is settled when every group's bound beats its own by the rounding error
        unsure = (upper * upper + 2 * self.tolerance >= lower.min(dim=1).values ** 2).nonzero().squeeze(1)
        need = torch.zeros((0, state.n_groups), dtype=torch.bool)
        if len(unsure):  # tighten the upper bound with the exact own distance, test again
            own_score = self._own_scores()[unsure]
            state.scored_pairs += len(unsure)
            tolerance = self.tolerance[unsure]
            tight = (self.sq_norm[unsure] - 2 * own_score + tolerance).clamp_(min=0).sqrt_()
            upper[unsure] = tight
            need = lower[unsure] ** 2 <= (tight * tight + 2 * tolerance)[:, None]
            keep = need.any(dim=1)
            unsure, need = unsure[keep], need[keep]
        if with_scores:  # settled rows too need their own centroid's GEMM score
            settled = torch.ones(self.rows.shape[0], dtype=torch.bool)
            settled[unsure] = False
            settled = settled.nonzero().squeeze(1)
            unsure = torch.cat([unsure, settled])
            need = torch.cat([need, torch.zeros((len(settled), state.n_groups), dtype=torch.bool)])
        if not len(unsure):
            return
        # the own group is scored with the others (unless the bf16 screen rules it out), so
        # every decision compares GEMM scores computed as the plain sweep computes them
        need[torch.arange(len(unsure)), state.group_of[self.labels[unsure]]] = True
        if state.screen:
            many = (need.sum(dim=1) >= SCREEN_MIN_GROUPS).nonzero().squeeze(1)
            if len(many):
                need[many], decided = self._screen(unsure[many], need[many], decide=not with_scores)
                left = torch.ones(len(unsure), dtype=torch.bool)
                left[many[decided]] = False
                unsure, need = unsure[left], need[left]
        if len(unsure):
            self._exact(unsure, need)

    def _own_scores(self) -> torch.Tensor:
        """x.c - |c|^2/2 for each row's own centroid (a row-wise dot, in cache-sized pieces)."""
        slots = self.state.slot_of[self.labels]
        out = torch.empty(self.rows.shape[0])
        for begin in range(0, len(out), 2048):
            piece = slice(begin, begin + 2048)
            own = slots[piece]
            out[piece] = torch.linalg.vecdot(self.rows[piece], self.keys.keys.index_select(0, own))
            out[piece] += self.keys.bias[own]
        return out

    def _pick(self, values: torch.Tensor, index: torch.Tensor | None, which: torch.Tensor | None = None):
        """`values` (per block row) of rows `index`, or of `index[which]`: a gather at
        memory speed (index_select; plain indexing is ~1.6x slower here), none for all rows."""
        if index is None:
            return values if which is None else values.index_select(0, which)
        return values.index_select(0, index if which is None else index.index_select(0, which))

    def _screen(
        self, index: torch.Tensor | None, need: torch.Tensor | None, decide: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """bf16 scores of rows `index` on the groups they `need` (None: all). Returns the
        groups that may hold the fp32 winner, and sets the others' lower bounds from the
        bf16 group maxima plus their error bound. With `decide`, rows screened on all keys
        whose best bf16 centroid beats every other by more than both error bounds get
        their label and bounds here, with no fp32 scoring (most rows of random vectors);
        returns which rows those are too."""
        state, keys, size = self.state, self.keys, self.state.group_size
        n, n_groups = self.rows.shape[0] if index is None else len(index), state.n_groups
        approx = torch.full((n, n_groups), -torch.inf)
        # rows needing most groups: one wide GEMM on all keys per piece of rows (a row
        # gathered once); the others: one GEMM per group over the rows that need it
        wide = torch.arange(n) if need is None else (need.sum(dim=1) >= WIDE_SCREEN_GROUPS * n_groups).nonzero()[:, 0]
        best_group = torch.empty(len(wide), dtype=torch.int64) if decide else None
        best_scores = torch.empty((len(wide), size)) if decide else None  # that group's bf16 scores
        for begin in range(0, len(wide), WIDE_SCREEN_ROWS):
            which = wide[begin : begin + WIDE_SCREEN_ROWS]
            rows = self._pick(self.rows16, index, which)
            scores = keys.scores16(rows)
            by_group = scores.view(len(rows), n_groups, size)
            maxima = by_group.amax(dim=2)
            approx[which] = maxima
            if decide:
                part = slice(begin, begin + len(which))
                best_group[part] = group = maxima.argmax(dim=1)
                best_scores[part] = by_group[torch.arange(len(rows)), group]
        state.screened_pairs += len(wide) * n_groups * size
        if need is not None and len(wide) < n:
            narrow = need.clone()
            narrow[wide] = False
            for g in range(n_groups):
                which = narrow[:, g].nonzero()[:, 0]
                if not len(which):
                    continue
                rows = self._pick(self.rows16, index, which)
                for begin in range(0, len(which), SCREEN_ROWS):
                    part = slice(begin, begin + SCREEN_ROWS)
                    approx[which[part], g] = keys.group_scores16(g, rows[part]).amax(dim=1)
                state.screened_pairs += len(which) * size
        sq_norm, tolerance = self._pick(self.sq_norm, index), self._pick(self.tolerance, index)
        residual, norm = self._pick(self.residuals16, index), self._pick(self.norms16, index)
        error = residual[:, None] * keys.residual_factor + norm[:, None] * keys.norm_factor + keys.constant_error
        highest = _above(approx) + error  # no score of the group is above this
        lowest = (_below(approx) - error).amax(dim=1)  # some centroid scores at least this
        candidate = highest >= (lowest - tolerance)[:, None]
        ruled_out = torch.isfinite(approx) & ~candidate
        bound = (sq_norm[:, None] - 2 * highest - tolerance[:, None]).clamp_(min=0).sqrt_()
        self._store(self.lower, index, torch.where(ruled_out, bound, self._pick(self.lower, index)))
        decided = torch.zeros(n, dtype=torch.bool)
        if decide and len(wide):
            decided[wide] = self._decide(
                index, wide, best_group, best_scores, approx, error, highest, sq_norm[wide], tolerance[wide]
            )
        return candidate, decided

    def _decide(self, index, wide, group, scores, approx, error, highest, sq_norm, tolerance) -> torch.Tensor:
        """Rows `wide` (positions in `index`) whose best bf16 centroid, in `group` (its
        bf16 `scores`), wins for sure: its score's lower bound beats every other centroid's
        upper bound (the other groups' `highest`, its own group's runner-up) by more than
        the fp32 tolerance, so the plain sweep's fp32 GEMM picks it too (`sq_norm`,
        `tolerance`: those rows'). Sets their label and bounds; returns them."""
        state, size = self.state, self.state.group_size
        everyone = torch.arange(len(wide))
        _, runner_up, position = _top_two(scores)
        best_slot = group * size + position
        group_error = error[wide, group]
        sure = _below(approx[wide, group]) - group_error  # the winner's score is at least this
        others = highest[wide]  # [rows, groups]: no other centroid scores above this
        others[everyone, group] = _above(runner_up) + group_error
        won = sure - tolerance > others.amax(dim=1)
        at = wide[won] if index is None else index[wide[won]]
        self.labels[at] = state.centroid_at[best_slot[won]]
        self.upper[at] = (sq_norm[won] - 2 * sure[won] + tolerance[won]).clamp_(min=0).sqrt_()
        fresh = (sq_norm[won, None] - 2 * others[won] - tolerance[won, None]).clamp_(min=0).sqrt_()
        self.lower[at] = torch.maximum(self.lower[at], fresh)  # both are lower bounds
        state.decided_rows += len(at)
        return won

    def _exact(self, index: torch.Tensor | None, need: torch.Tensor | None) -> None:
        """fp32 GEMM scores of rows `index` on the groups they `need` (None: all); sets
        their labels, exact upper bounds, and exact lower bounds for the scored groups.
        After the bf16 screen a row needs one group or a few, in patterns too varied for
        tiles (their unions scored 2.7x the needed pairs on random vectors): one GEMM
        per group. Without it, rows needing the same groups are put side by side and
        scored in tiles against the union of their groups, a row gathered once (15-20 %
        faster than per-group GEMMs there)."""
        if self.state.screen and need is not None:
            self._per_group(index, need)
            return
        if need is None:
            self._tiles(index, None, max(TILE_ROWS, FULL_TILE_ELEMENTS // len(self.keys.keys)))
            return
        if index is None:
            index = torch.arange(self.rows.shape[0])
        groups = min(self.state.n_groups, 62)
        pattern = (need[:, :groups].long() << torch.arange(groups)).sum(dim=1)
        order = torch.argsort(pattern, stable=True)
        self._tiles(index[order], need[order], TILE_ROWS)

    def _per_group(self, index: torch.Tensor | None, need: torch.Tensor) -> None:
        """`_exact` as one GEMM per group over the rows that need it (no tile unions)."""
        state, keys, size = self.state, self.keys, self.state.group_size
        n, n_groups = self.rows.shape[0] if index is None else len(index), state.n_groups
        best = torch.full((n, n_groups), -torch.inf)
        second = torch.full((n, n_groups), -torch.inf)
        arg = torch.zeros((n, n_groups), dtype=torch.int64)
        for g in range(n_groups):
            which = need[:, g].nonzero().squeeze(1)
            if not len(which):
                continue
            top, runner_up, position = _group_scores(self._pick(self.rows, index, which), keys, g)
            state.scored_pairs += len(top) * size
            best[which, g], second[which, g], arg[which, g] = top, runner_up, position + g * size
        winner, group = best.max(dim=1)
        everyone = torch.arange(n)
        slot = arg[everyone, group]
        best[everyone, group] = second[everyone, group]  # the winner's group: its best other centroid
        sq_norm, tolerance = self._pick(self.sq_norm, index), self._pick(self.tolerance, index)
        fresh = (sq_norm[:, None] - 2 * best - tolerance[:, None]).clamp_(min=0).sqrt_()
        self._store(self.lower, index, torch.where(need, fresh, self._pick(self.lower, index)))
        self._store(self.labels, index, state.centroid_at[slot])
        self._store(self.upper, index, (sq_norm - 2 * winner + tolerance).clamp_(min=0).sqrt_())
        self._store(self.own_scores, index, winner)

    def _tiles(self, index: torch.Tensor | None, need: torch.Tensor | None, tile_rows: int) -> None:
        """`_exact` in tiles of `tile_rows` consecutive rows of `index` (already in tile
        order), each scored in one GEMM on the union of the groups its rows need."""
        state, size, keys = self.state, self.state.group_size, self.keys
        every = index is None
        x = self._pick(self.rows, index)
        sq_norm, tolerance = self._pick(self.sq_norm, index), self._pick(self.tolerance, index)
        lower = torch.empty((len(x), state.n_groups)) if every else self.lower.index_select(0, index)
        best, slot = torch.empty(len(x)), torch.empty(len(x), dtype=torch.int64)
        columns = None  # consecutive tiles often need the same groups: gather their keys once
        for begin in range(0, len(x), tile_rows):
            tile = slice(begin, begin + tile_rows)
            groups = torch.arange(state.n_groups) if need is None else need[tile].any(dim=0).nonzero()[:, 0]
            if columns is None or not torch.equal(groups, columns[0]):
                slots = (groups[:, None] * size + torch.arange(size)).reshape(-1)
                every_group = len(groups) == state.n_groups
                columns = (groups, slots, keys.fp32 if every_group else keys.fp32_of(slots))
            _, slots, tile_keys = columns
            scores = tile_keys.scores(x[tile])
            n = scores.shape[0]
            state.scored_pairs += scores.numel()
            by_group = scores.view(n, len(groups), size)
            group_best = by_group.amax(dim=2)
            best[tile], winning = group_best.max(dim=1)
            # the winner's group: its best other centroid is its bound (the winner is not in it)
            winner_group = by_group[torch.arange(n), winning]  # [n, size], a copy
            position = winner_group.argmax(dim=1)
            winner_group[torch.arange(n), position] = -torch.inf
            group_best[torch.arange(n), winning] = winner_group.amax(dim=1)
            slot[tile] = slots[winning * size + position]
            fresh = (sq_norm[tile, None] - 2 * group_best - tolerance[tile, None]).clamp_(min=0).sqrt_()
            if len(groups) == state.n_groups:
                lower[tile] = fresh
            else:
                lower[tile][:, groups] = fresh
        self._store(self.labels, index, state.centroid_at[slot])
        self._store(self.upper, index, (sq_norm - 2 * best + tolerance).clamp_(min=0).sqrt_())
        self._store(self.lower, index, lower)
        self._store(self.own_scores, index, best)

    @staticmethod
    def _store(target: torch.Tensor, index: torch.Tensor | None, values: torch.Tensor) -> None:
        if index is None:
            target[:] = values
        else:
            target[index] = values


def _above(scores: torch.Tensor) -> torch.Tensor:
    """o + u|o| (the bf16 output's rounding, upwards; monotone in o): -inf stays -inf."""
    return scores * (1 + OUTPUT_ROUNDING * scores.sign())


def _below(scores: torch.Tensor) -> torch.Tensor:
    """o - u|o| (downwards; monotone in o): -inf stays -inf."""
    return scores * (1 - OUTPUT_ROUNDING * scores.sign())


def _top_two(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row of `scores` (modified): the best, the second best, and the best one's
    position (the first, if tied, as max(dim) documents; 6x faster here than finding it
    with comparisons)."""
    best, first = scores.max(dim=1)
    scores[torch.arange(len(scores)), first] = -torch.inf
    return best, scores.amax(dim=1), first


# fp32 group scores are computed in GEMMs of at most this many rows (taller ones with
# only GROUP_SIZE columns run at about 2/3 of the rate here).
EXACT_ROWS = 2048


def _group_scores(rows: torch.Tensor, keys: _Keys, g: int):
    """Per row, group g's best fp32 GEMM score, second best, and the best one's position
    in the group (see _top_two)."""
    group_keys = keys.group_fp32(g)
    top, runner_up = torch.empty(len(rows)), torch.empty(len(rows))
    position = torch.empty(len(rows), dtype=torch.int64)
    for begin in range(0, len(rows), EXACT_ROWS):
        part = slice(begin, begin + EXACT_ROWS)
        top[part], runner_up[part], position[part] = _top_two(group_keys.scores(rows[part]))
    return top, runner_up, position
