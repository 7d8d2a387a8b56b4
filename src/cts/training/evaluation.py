"""The test-end contract between a task and the runner: what was scored, by the model and by each baseline.

A task module returns a ``TestEvaluation`` from ``TaskModule.test_evaluation(datamodule)``: the admission of every
scored test row and, per predictor, one function per metric that turns a ``ClusterBootstrap`` over those rows into
bootstrap samples. Baselines are fitted on the train split and scored on exactly the model's rows, so the runner
resamples all predictors identically and ``summary.json`` gets paired intervals for model − best baseline.

A ``ceiling`` (the best any predictor could do on these rows, e.g. the Bayes predictor of the demo's generator) is
scored on the same rows and reported apart from the baselines (it is never the best baseline), with ``gap_closed``:
(model − best baseline) / (ceiling − best baseline) on the headline metric, its interval from the same resamples
(each resample's ratio; undefined where the ceiling does not beat the baseline). ``also``: further metrics (e.g.
bits per event beside top-5), each compared with its own best baseline, paired, as ``also_compared``. ``warnings``:
things about the input a reader must know (e.g. many test events in a tokenizer's unknown bucket), printed with the
summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cts.bootstrap import ClusterBootstrap, best_baseline, interval, macro_f1, mean, one_hot, ratio, summary_block
from cts.io import nan_to_none

log = logging.getLogger(__name__)
Statistic = Callable[[ClusterBootstrap], np.ndarray]


@dataclass
class TestEvaluation:
    groups: np.ndarray  # hadm_id of each scored test row
    model: dict[str, Statistic]  # metric name (no "test/" prefix) → bootstrap samples
    baselines: dict[str, dict[str, Statistic]] = field(default_factory=dict)
    headline: str = ""  # the metric best_baseline compares on (the task's monitored metric)
    higher_is_better: bool = True
    ceiling: dict[str, Statistic] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    also: dict[str, bool] = field(default_factory=dict)  # metric → higher is better: also compared with its best

    def summarize(self, n_resamples: int = 1000, seed: int = 0) -> dict:
        """``metrics``, ``ci95``, ``baselines``, ``best_baseline`` of the summary.json contract."""
        boot = ClusterBootstrap(self.groups, n_resamples=n_resamples, seed=seed)
        model = {name: statistic(boot) for name, statistic in self.model.items()}
        baselines = {name: {metric: statistic(boot) for metric, statistic in metrics.items()}
                     for name, metrics in self.baselines.items()}
        out = summary_block(model, baselines, self.headline, self.higher_is_better)
        also = [best_baseline(model, baselines, metric, higher) for metric, higher in self.also.items()]
        if any(also):
            out["also_compared"] = [block for block in also if block]
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.ceiling:
            ceiling = {name: statistic(boot) for name, statistic in self.ceiling.items()}
            values = summary_block(ceiling, {}, self.headline)
            out["ceiling"] = {**values["metrics"], "ci95": values["ci95"]}
            best = out["best_baseline"]
            if best and self.headline in ceiling and self.headline in model:
                floor = baselines[best["name"]][self.headline]
                share = gap_closed(model[self.headline], floor, ceiling[self.headline])
                estimate = interval(share)
                out["gap_closed"] = {"metric_name": f"test/{self.headline}", "baseline": best["name"],
                                     "value": nan_to_none(estimate.value), "ci95": estimate.ci95()}
        for line in ceiling_lines(out):
            log.info("%s", line)
        return out


def ceiling_lines(summary: dict) -> list[str]:
    """The ceiling beside the model, the share of the gap the model closes, and the warnings, as printed lines."""
    lines = [f"warning: {text}" for text in summary.get("warnings", [])]
    ceiling = summary.get("ceiling")
    if ceiling:
        shown = []
        for name, value in ceiling.items():
            if name == "ci95" or value is None:
                continue
            lo, hi = ceiling["ci95"].get(name, [None, None])
            model = summary.get("metrics", {}).get(name)
            shown.append(f"  {name:<24} ceiling {value:.3f} [{_number(lo)}, {_number(hi)}]"
                         + (f"   model {model:.3f}" if isinstance(model, float) else ""))
        lines += ["ceiling (the data generator's Bayes predictor, same test rows):", *shown]
    gap = summary.get("gap_closed")
    if gap:
        lo, hi = gap["ci95"]
        lines.append(f"model closes {_number(gap['value'])} [{_number(lo)}, {_number(hi)}] of the gap from "
                     f"{gap['baseline']} to the ceiling on {gap['metric_name']} (0 = the baseline, 1 = the ceiling)")
    return lines


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def gap_closed(model: np.ndarray, baseline: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
    """Share of the gap from a baseline to the ceiling that the model closes, per bootstrap sample: 0 = the
    baseline, 1 = the ceiling, negative = below the baseline; NaN where the ceiling does not exceed the baseline."""
    model, baseline, ceiling = (np.asarray(a, dtype=np.float64) for a in (model, baseline, ceiling))
    gap = ceiling - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, (model - baseline) / np.where(gap > 0, gap, 1.0), np.nan)


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
