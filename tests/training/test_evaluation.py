"""The test-end evaluation (``cts.training.evaluation``): the share of the gap a model closes, by hand, and the
ceiling reported apart from the baselines."""

import numpy as np
import pytest

from cts.training.evaluation import TestEvaluation as Evaluation
from cts.training.evaluation import gap_closed


def test_gap_closed_by_hand():
    share = gap_closed(np.array([0.3, 0.2, 0.1, 0.5]), np.array([0.2, 0.2, 0.2, 0.5]), np.array([0.4, 0.3, 0.4, 0.5]))
    assert share[:3].tolist() == pytest.approx([0.5, 0.0, -0.5]) and np.isnan(share[3])  # no gap: undefined


def test_summary_reports_the_ceiling_apart_from_the_baselines_with_the_gap_closed():
    groups = np.repeat(np.arange(20), 5)
    model, baseline, ceiling = (np.resize(np.array(v, float), 100) for v in ([1, 0, 0, 1, 0], [1, 0, 0, 0, 0],
                                                                              [1, 1, 0, 1, 0]))
    from cts.bootstrap import mean

    evaluation = Evaluation(groups=groups, model={"top1_tied": lambda b: mean(b, model)},
                                baselines={"bigram": {"top1_tied": lambda b: mean(b, baseline)}},
                                headline="top1_tied", ceiling={"top1_tied": lambda b: mean(b, ceiling)},
                                warnings=["6.0% of the 100 test events fall outside the train events"])
    summary = evaluation.summarize(n_resamples=200)
    assert summary["best_baseline"]["name"] == "bigram"  # the ceiling is never a baseline
    assert summary["ceiling"]["test/top1_tied"] == pytest.approx(0.6)
    assert summary["gap_closed"]["value"] == pytest.approx((0.4 - 0.2) / (0.6 - 0.2))
    assert summary["warnings"] == ["6.0% of the 100 test events fall outside the train events"]
