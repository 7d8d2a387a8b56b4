"""Weighted AUROC / AUPRC against hand-computed values and scikit-learn, and the test-end contract on a fixture."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cts.tasks.risk.metrics import risk_statistics, weighted_auprc, weighted_auroc
from cts.training import evaluation

SCORES = np.array([0.1, 0.4, 0.35, 0.8])
LABELS = np.array([0, 0, 1, 1])


def test_hand_computed_values():
    # positive pairs: (0.35 > 0.1) yes, (0.35 > 0.4) no, (0.8 > both) yes, yes → 3 of 4
    assert weighted_auroc(SCORES, LABELS, np.ones((1, 4)))[0] == pytest.approx(0.75)
    # thresholds 0.8 (P=1, R=.5), 0.4 (P=.5, R=.5), 0.35 (P=2/3, R=1): AP = .5*1 + .5*2/3
    assert weighted_auprc(SCORES, LABELS, np.ones((1, 4)))[0] == pytest.approx(0.5 + 1 / 3)
    # a tie between a positive and a negative counts one half
    assert weighted_auroc([0.5, 0.5], [0, 1], np.ones((1, 2)))[0] == pytest.approx(0.5)
    # weight 2 on a row = the row twice
    doubled = weighted_auroc(np.r_[SCORES, 0.4], np.r_[LABELS, 0], np.ones((1, 5)))[0]
    assert weighted_auroc(SCORES, LABELS, np.array([[1, 2, 1, 1]]))[0] == pytest.approx(doubled)
    # one class only: undefined
    assert np.isnan(weighted_auroc(SCORES, np.ones(4), np.ones((1, 4)))[0])


def test_matches_sklearn_with_sample_weights():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # rounded: many ties
    labels = (rng.random(300) < scores).astype(int)
    weights = rng.integers(0, 4, size=(5, 300)).astype(float)
    for row, w in enumerate(weights):
        assert weighted_auroc(scores, labels, weights)[row] == pytest.approx(roc_auc_score(labels, scores,
                                                                                           sample_weight=w))
        assert weighted_auprc(scores, labels, weights)[row] == pytest.approx(
            average_precision_score(labels, scores, sample_weight=w))


def test_summary_contract_with_paired_baseline():
    groups = np.repeat(np.arange(40), 2)
    labels = np.tile([0, 1], 40)
    good = labels * 0.6 + 0.2  # perfect ranking
    flat = np.full(80, 0.5)
    result = evaluation.TestEvaluation(groups, risk_statistics(good, labels),
                                       {"constant": risk_statistics(flat, labels)}, headline="auroc")
    summary = result.summarize(n_resamples=200, seed=1)
    assert summary["metrics"]["test/auroc"] == pytest.approx(1.0)
    assert summary["metrics"]["test/brier"] == pytest.approx(0.04)  # every row off by 0.2
    assert summary["baselines"]["constant"]["test/auroc"] == pytest.approx(0.5)
    assert summary["best_baseline"]["name"] == "constant" and summary["best_baseline"]["delta"] == pytest.approx(0.5)
    assert summary["ci95"]["test/auroc"] == [1.0, 1.0]
