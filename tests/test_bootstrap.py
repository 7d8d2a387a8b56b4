"""The admission-clustered bootstrap against closed forms and hand-made counts."""

import numpy as np
import pytest

from cts.bootstrap import ClusterBootstrap, difference, interval, macro_f1, mean, summary_block


def test_mean_of_bernoulli_matches_the_normal_interval():
    rng = np.random.default_rng(0)
    hits = rng.random(2000) < 0.3
    boot = ClusterBootstrap(np.arange(2000), n_resamples=2000, seed=1)
    estimate = interval(mean(boot, hits))
    p = hits.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / len(hits))
    assert estimate.value == pytest.approx(p)
    assert estimate.lo == pytest.approx(p - half, abs=0.004)
    assert estimate.hi == pytest.approx(p + half, abs=0.004)


def test_clusters_are_resampled_whole():
    # 10 admissions of 5 identical rows: the interval must be that of 10 draws, not 50
    hits = np.repeat(np.array([1, 0] * 5, dtype=float), 5)
    groups = np.repeat(np.arange(10), 5)
    clustered = interval(mean(ClusterBootstrap(groups, 2000, seed=2), hits))
    rows = interval(mean(ClusterBootstrap(np.arange(50), 2000, seed=2), hits))
    assert clustered.hi - clustered.lo > 1.8 * (rows.hi - rows.lo)


def test_macro_f1_full_sample_matches_hand_count():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp1 fp1 fn1 → 0.5; class 1: tp2 fp1 fn0 → 0.8; class 2: tp1 fp0 fn1 → 2/3
    value = macro_f1(ClusterBootstrap(np.arange(6), 10), pred, truth, 3)[0]
    assert value == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_paired_difference_of_identical_predictors_is_zero():
    boot = ClusterBootstrap(np.arange(100) // 4, 500)
    hits = (np.arange(100) % 3 == 0).astype(float)
    delta = difference(mean(boot, hits), mean(boot, hits))
    assert (delta.value, delta.lo, delta.hi) == (0.0, 0.0, 0.0)


def test_summary_block_contract():
    boot = ClusterBootstrap(np.arange(200) // 2, 300, seed=3)
    truth = np.arange(200) % 2
    model = {"acc": mean(boot, truth == truth)}
    baselines = {"majority": {"acc": mean(boot, truth == 0)}, "never": {"acc": mean(boot, truth == 5)}}
    block = summary_block(model, baselines, "acc")
    assert block["metrics"] == {"test/acc": 1.0}
    assert block["baselines"]["majority"]["test/acc"] == 0.5
    assert set(block["baselines"]["majority"]["ci95"]) == {"test/acc"}
    best = block["best_baseline"]
    assert (best["name"], best["metric_name"], best["value"], best["delta"]) == ("majority", "test/acc", 0.5, 0.5)
    assert best["delta_ci95"][0] > 0.3


def test_zero_rows_is_an_error():
    with pytest.raises(ValueError, match="zero rows"):
        ClusterBootstrap([], 10)


def test_the_same_rows_in_another_order_get_the_same_resamples():
    """Two runs that score the same admissions in different batch orders report the same baseline interval."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40) * 7 + 100, 3)
    values = rng.normal(size=len(groups))
    order = rng.permutation(len(groups))
    first = ClusterBootstrap(groups, n_resamples=200, seed=0).sums(values)
    second = ClusterBootstrap(groups[order], n_resamples=200, seed=0).sums(values[order])
    np.testing.assert_allclose(first, second)
