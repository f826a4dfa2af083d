"""The statistics against simulated projects with known truth (sampling/statistics.py)."""

from __future__ import annotations

import numpy as np

from sampling import statistics as st
from tests.insights.simulation import K, simulate, similarity_of, true_good, true_precision

N_PROJECTS = 1000


def test_cluster_bootstrap_covers_the_true_precision_and_the_naive_interval_does_not():
    """1,000 projects of 100 captions x 4 candidates drawn uniformly from the top 16, with
    caption-level correlation: the 95 % cluster-bootstrap interval of each project's
    share good covers the true precision in 93-97 % of projects; the Wilson interval,
    which treats the 400 pairs as independent, covers clearly less."""
    truth, _ = true_precision()
    data = simulate(N_PROJECTS, 100, 4, seed=20261201)
    shares = st.grouped_shares(data["good"], data["caption"], data["project"], N_PROJECTS, n_boot=1000, seed=7)
    covered = (shares.low <= truth) & (truth <= shares.high)
    low, high = st.wilson_interval(np.bincount(data["project"], data["good"]), np.bincount(data["project"]))
    naive = (low <= truth) & (truth <= high)
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    assert naive.mean() < 0.90, naive.mean()
    assert abs(shares.estimate.mean() - truth) < 0.005  # unbiased under the audit draw
    assert (shares.pairs == 400).all() and (shares.clusters == 100).all()


def test_per_rank_intervals_cover_each_ranks_precision():
    """Per retrieval rank (a caption falls in several rank groups): pooled over ranks
    and 400 projects, coverage stays in 93-97 %."""
    _, per_rank = true_precision()
    data = simulate(400, 100, 4, seed=99)
    groups = data["project"] * K + data["rank"]
    shares = st.grouped_shares(data["good"], data["caption"], groups, 400 * K, n_boot=500, seed=3)
    truth = np.tile(per_rank, 400)
    rated = shares.pairs >= 15  # a rank drawn too rarely in a project has no honest interval
    covered = (shares.low <= truth) & (truth <= shares.high)
    assert 0.93 <= covered[rated].mean() <= 0.97, covered[rated].mean()


def test_calibration_recovers_the_known_curve():
    data = simulate(1, 5000, 4, seed=3)
    grid = np.linspace(0.55, 0.85, 31)
    truth = true_good(grid)
    logistic = st.fit_calibration(data["similarity"], data["rank"], data["good"], "logistic")
    isotonic = st.fit_calibration(data["similarity"], data["rank"], data["good"], "isotonic")
    assert np.abs(st.predict(logistic, grid, np.full(len(grid), 4)) - truth).max() < 0.03
    assert np.abs(st.predict(isotonic, grid, np.zeros(len(grid))) - truth).max() < 0.08
    assert abs(logistic["log1p_rank"]) < 0.2  # good depends on similarity only here
    predicted = st.cross_fitted(data["similarity"], data["rank"], data["good"], data["caption"])
    bins = st.reliability(predicted, data["good"], data["caption"], n_boot=300)
    assert sum(b["pairs"] for b in bins) == len(data["good"])
    for b in bins:
        if b["pairs"] >= 500:  # out-of-fold predictions match what was observed
            assert b["low"] - 0.02 <= b["predicted"] <= b["high"] + 0.02, b


def test_recommended_threshold_meets_the_target_on_held_out_pairs():
    """For 60 projects of 500 captions, the recommended threshold for 80 % good holds
    on a held-out population of 500k pairs in at least 90 % of them and misses by
    little in the rest (the lowest of ~100 thresholds is picked: a small selection cost).
    A project whose data cannot support the target gets no threshold (rarely here)."""
    rng = np.random.default_rng(99)
    rank = rng.integers(0, K, 500_000)
    similarity = similarity_of(rank, rng)
    order = np.argsort(-similarity)
    ranked = similarity[order]
    precision = np.cumsum(true_good(ranked)) / np.arange(1, len(ranked) + 1)

    def held_out(threshold):
        return precision[np.searchsorted(-ranked, -threshold, side="right") - 1]

    results, refused = [], 0
    for seed in range(60):
        data = simulate(1, 500, 4, seed=1000 + seed)
        curve = st.threshold_curve(data["similarity"], data["good"], data["caption"], n_boot=400, seed=seed)
        threshold = st.recommend_threshold(curve, 0.8)
        if threshold is None:
            refused += 1
            continue
        assert curve["lower"][curve["threshold"] == threshold][0] >= 0.8
        results.append(held_out(threshold))
    results = np.array(results)
    assert refused <= 3
    assert (results >= 0.8).mean() >= 0.9, (results >= 0.8).mean()
    assert results.min() >= 0.77


def test_drift_is_flagged_within_a_bounded_delay_and_a_steady_annotator_is_not():
    """Agreement of 0.9, then random (1 in 3) after task 200: flagged within 40 tasks
    of the change in at least 95 % of 200 annotators (expected delay about 15); steady
    annotators at 0.9 are flagged over 1,000 tasks in at most 5 %."""
    rng = np.random.default_rng(5)
    settings = st.DriftSettings()
    assert st.expected_delay(1 / 3, 0.9, settings) < 20
    change, delays = 200, []
    for _ in range(200):
        outcomes = np.r_[rng.random(change) < 0.9, rng.random(300) < 1 / 3]
        flagged = st.drift_flags(outcomes, crowd=0.9, settings=settings)["flag_at"]
        delays.append(np.inf if flagged is None else flagged - change)
    delays = np.array(delays)
    assert ((delays >= 0) & (delays <= 40)).mean() >= 0.95, np.percentile(delays, [5, 50, 95])
    false = [
        st.drift_flags(rng.random(1000) < 0.9, crowd=0.9, settings=settings)["flag_at"] is not None for _ in range(200)
    ]
    assert np.mean(false) <= 0.05, np.mean(false)
    steady = st.drift_flags(np.random.default_rng(1).random(1000) < 0.9, crowd=0.9, settings=settings)
    assert steady["flag_at"] is None and steady["own_flag_at"] is None and steady["crowd_flag_at"] is None


def test_an_annotator_below_the_crowd_from_the_start_is_flagged_against_the_crowd():
    outcomes = np.random.default_rng(2).random(300) < 0.5
    result = st.drift_flags(outcomes, crowd=0.9)
    assert result["crowd_flag_at"] is not None and result["crowd_flag_at"] < 40
    assert result["own_flag_at"] is None  # steady at their own (low) level


def test_cusum_matches_the_recursion():
    x = np.random.default_rng(0).random(500) < 0.7
    s, expected = 0.0, []
    for v in x:
        s = max(0.0, s + (np.log(0.5 / 0.9) if v else np.log(0.5 / 0.1)))
        expected.append(s)
    np.testing.assert_allclose(st.cusum(x, 0.9, 0.5), expected)


def test_position_bias_compares_slots_at_equal_rank():
    """Slot 0 holds mostly rank 0 (good more often): raw shares differ by slot, the
    rank-standardised ones do not, and the stratified test finds no bias. An injected
    +25 point bias for slot 0 is found."""
    rng = np.random.default_rng(4)
    n = 20_000
    rank = rng.integers(0, 4, n)
    slot = np.where(rng.random(n) < 0.7, rank % 2, 1 - rank % 2)
    p = 0.8 - 0.15 * rank
    unbiased = st.position_bias(rng.random(n) < p, slot, rank)
    raw = [s["share_good"] for s in unbiased["slots"]]
    standardised = [s["standardised_share_good"] for s in unbiased["slots"]]
    assert abs(standardised[0] - standardised[1]) < 0.02 < abs(raw[0] - raw[1])
    assert unbiased["p_value"] > 0.01
    biased = st.position_bias(rng.random(n) < p + 0.25 * (slot == 0) - 0.1, slot, rank)
    assert biased["p_value"] < 1e-6
    assert biased["slots"][0]["standardised_share_good"] > biased["slots"][1]["standardised_share_good"] + 0.2


def test_throughput_eta():
    start = 1_700_000_000.0
    stamps = start + np.arange(0, 6 * 3600, 36.0)  # 100 an hour for 6 hours
    result = st.throughput(stamps, remaining=250)
    assert len(result["buckets"]) == 6 and all(b["count"] == 100 for b in result["buckets"])
    assert abs(result["rate_per_hour"] - 100) < 1
    assert abs(result["eta_hours"] - 2.5) < 0.05
    assert st.throughput([], remaining=3)["eta_hours"] is None


def test_bad_input_is_refused_clearly():
    import pytest

    with pytest.raises(ValueError, match="method must be"):
        st.fit_calibration([0.1, 0.2], [0, 1], [0, 1], "spline")
