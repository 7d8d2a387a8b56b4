"""The test-end contract between a task and the runner: what was scored, by the model and by each baseline.

A task module returns a ``TestEvaluation`` from ``TaskModule.test_evaluation(datamodule)``: the admission of every
scored test row and, per predictor, one function per metric that turns a ``ClusterBootstrap`` over those rows into
bootstrap samples. Baselines are fitted on the train split and scored on exactly the model's rows, so the runner
resamples all predictors identically and ``summary.json`` gets paired intervals for model − best baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cts.bootstrap import ClusterBootstrap, macro_f1, mean, one_hot, ratio, summary_block

Statistic = Callable[[ClusterBootstrap], np.ndarray]


@dataclass
class TestEvaluation:
    groups: np.ndarray  # hadm_id of each scored test row
    model: dict[str, Statistic]  # metric name (no "test/" prefix) → bootstrap samples
    baselines: dict[str, dict[str, Statistic]] = field(default_factory=dict)
    headline: str = ""  # the metric best_baseline compares on (the task's monitored metric)
    higher_is_better: bool = True

    def summarize(self, n_resamples: int = 1000, seed: int = 0) -> dict:
        """``metrics``, ``ci95``, ``baselines``, ``best_baseline`` of the summary.json contract."""
        boot = ClusterBootstrap(self.groups, n_resamples=n_resamples, seed=seed)
        model = {name: statistic(boot) for name, statistic in self.model.items()}
        baselines = {name: {metric: statistic(boot) for metric, statistic in metrics.items()}
                     for name, metrics in self.baselines.items()}
        return summary_block(model, baselines, self.headline, self.higher_is_better)


def classification_statistics(predicted: np.ndarray, truth: np.ndarray, labels) -> dict[str, Statistic]:
    """acc, macro_f1 and f1_<label> of label-id predictions, as bootstrap statistics (same names as the logged
    epoch metrics); shared by every classification task (relation, pubmedqa, trials)."""
    n = len(labels)
    pred, true = one_hot(predicted, n), one_hot(truth, n)

    def class_f1(index: int) -> Statistic:
        return lambda boot: ratio(2 * boot.sums(pred[:, index] * true[:, index]),
                                  boot.sums(pred[:, index]) + boot.sums(true[:, index]))

    return {"acc": lambda boot: mean(boot, predicted == truth),
            "macro_f1": lambda boot: macro_f1(boot, predicted, truth, n),
            **{f"f1_{name}": class_f1(i) for i, name in enumerate(labels)}}
