"""Admission-clustered bootstrap for every reported number: model metrics, baselines and their differences.

Rows of one admission are not independent (pairs, prompts and windows share a patient's history), so whole groups
(admissions, or notes for annotation evaluation) are resampled with replacement. Resampling is vectorized: one
``(n_resamples, n_groups)`` matrix of multinomial counts, applied to per-group sums of per-row columns, so any metric
that is a function of column sums (means, rates, macro-F1 from confusion counts, MAE over parsed rows, P/R/F1 of a
matching) gets its interval from a matrix product. A model and a baseline scored on the same rows with the same
``ClusterBootstrap`` are resampled identically, so their difference gets a paired interval.

Usage::

    boot = ClusterBootstrap(hadm_ids, n_resamples=1000, seed=0)
    correct = boot.sums(predictions == labels)           # (1 + B,): row 0 = the full sample
    counts = boot.sums(np.ones(len(labels)))
    estimate = interval(correct / counts)                  # Estimate(value, lo, hi)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cts.io import nan_to_none

LEVEL = 0.95
_CHUNK = 200  # resamples per matrix product: bounds memory to _CHUNK × n_groups floats


@dataclass(frozen=True)
class Estimate:
    """A point value with its percentile bootstrap interval (NaN where the statistic is undefined)."""

    value: float
    lo: float
    hi: float

    def ci95(self) -> list[float | None]:
        return [nan_to_none(self.lo), nan_to_none(self.hi)]


class ClusterBootstrap:
    """Resampling weights over the groups of a fixed set of rows; ``sums`` gives column sums per resample. Groups are
    drawn in sorted order, so the same rows in another order (a run that batches them differently) get the same
    resamples, and baselines scored in two runs get the same interval."""

    def __init__(self, groups, n_resamples: int = 1000, seed: int = 0):
        codes, uniques = pd.factorize(np.asarray(groups), sort=True, use_na_sentinel=False)
        self.codes = codes.astype(np.int64)
        self.n_rows, self.n_groups = len(self.codes), len(uniques)
        self.n_resamples, self.seed = int(n_resamples), int(seed)
        if self.n_rows == 0:
            raise ValueError("bootstrap over zero rows: nothing was scored")
        rng = np.random.default_rng(self.seed)
        # counts[b, g]: how many times group g is drawn in resample b (n_groups draws, uniform, with replacement)
        self.counts = rng.multinomial(self.n_groups, np.full(self.n_groups, 1.0 / self.n_groups),
                                      size=self.n_resamples).astype(np.float32)

    def group_sums(self, values) -> np.ndarray:
        """Per-group sums of a per-row column ``(n_rows,)`` or ``(n_rows, k)``
        → ``(n_groups,)`` or ``(n_groups, k)``."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] != self.n_rows:
            raise ValueError(f"bootstrap column has {values.shape[0]} rows, the scored rows are {self.n_rows}")
        flat = values.reshape(self.n_rows, -1)
        out = np.zeros((self.n_groups, flat.shape[1]))
        np.add.at(out, self.codes, flat)
        return out.reshape((self.n_groups,) + values.shape[1:])

    def sums(self, values) -> np.ndarray:
        """Column sums on the full sample (row 0) and on each resample (rows 1..B): shape ``(1 + B,) + extra``."""
        per_group = self.group_sums(values)
        flat = per_group.reshape(self.n_groups, -1)
        resampled = np.concatenate([self.counts[i:i + _CHUNK] @ flat for i in range(0, self.n_resamples, _CHUNK)])
        full = flat.sum(axis=0, keepdims=True)
        return np.concatenate([full, resampled]).reshape((1 + self.n_resamples,) + per_group.shape[1:])


def interval(samples: np.ndarray, level: float = LEVEL) -> Estimate:
    """``samples[0]`` is the point value, ``samples[1:]`` the bootstrap replicates (percentile interval)."""
    samples = np.asarray(samples, dtype=np.float64)
    replicates = samples[1:][np.isfinite(samples[1:])]
    if not np.isfinite(samples[0]) or len(replicates) == 0:
        return Estimate(float(samples[0]), float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(replicates, [tail, 100 - tail])
    return Estimate(float(samples[0]), float(lo), float(hi))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio of bootstrap sums, NaN where the denominator is zero (e.g. no parsed times)."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def mean(boot: ClusterBootstrap, values) -> np.ndarray:
    """Bootstrap samples of the row mean of ``values``."""
    return ratio(boot.sums(values), boot.sums(np.ones(boot.n_rows)))


def one_hot(labels, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.eye(n_classes, dtype=np.float64)[labels]


def macro_f1(boot: ClusterBootstrap, predicted, truth, n_classes: int) -> np.ndarray:
    """Bootstrap samples of macro-F1: per-class F1 from resampled confusion counts, averaged over the classes that
    occur (in truth or prediction) in each resample — the usual sklearn ``average='macro'`` over present labels."""
    pred, true = one_hot(predicted, n_classes), one_hot(truth, n_classes)
    tp, n_pred, n_true = boot.sums(pred * true), boot.sums(pred), boot.sums(true)
    f1 = ratio(2 * tp, n_pred + n_true)
    present = (n_pred + n_true) > 0
    with np.errstate(invalid="ignore"):
        return np.where(present, np.nan_to_num(f1), 0.0).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Estimate:
    """Paired interval of ``a - b`` for two statistics resampled with the same ``ClusterBootstrap``."""
    return interval(np.asarray(a, float) - np.asarray(b, float), level)


def best_baseline(model: dict[str, np.ndarray], baselines: dict[str, dict[str, np.ndarray]], metric: str,
                  higher_is_better: bool = True, prefix: str = "test/", level: float = LEVEL) -> dict | None:
    """{metric_name, name, value, delta, delta_ci95}: the best baseline on ``metric`` and model minus it, paired (None
    when the model or every baseline lacks the metric)."""
    candidates = {name: samples[metric][0] for name, samples in baselines.items()
                  if metric in samples and np.isfinite(samples[metric][0])}
    if not candidates or metric not in model:
        return None
    best = (max if higher_is_better else min)(candidates, key=candidates.get)
    delta = difference(model[metric], baselines[best][metric], level)
    return {"metric_name": prefix + metric, "name": best, "value": nan_to_none(float(candidates[best])),
            "delta": nan_to_none(delta.value), "delta_ci95": delta.ci95()}


def summary_block(model: dict[str, np.ndarray], baselines: dict[str, dict[str, np.ndarray]], monitored: str,
                  higher_is_better: bool = True, prefix: str = "test/", level: float = LEVEL) -> dict:
    """The ``summary.json`` contract from bootstrap samples (each ``(1 + B,)``, all from one ``ClusterBootstrap``):

    ``metrics`` {prefix+name: value}, ``ci95`` {prefix+name: [lo, hi]}, ``baselines`` {baseline: {prefix+name: value,
    ..., "ci95": {...}}} and ``best_baseline`` {metric_name, name, value, delta, delta_ci95} for ``monitored`` (the
    task's monitored metric, without prefix): the best baseline on it, and model minus that baseline, paired.
    """
    def block(samples: dict[str, np.ndarray]) -> tuple[dict, dict]:
        estimates = {prefix + name: interval(values, level) for name, values in samples.items()}
        return ({k: nan_to_none(e.value) for k, e in estimates.items()},
                {k: e.ci95() for k, e in estimates.items()})

    metrics, ci95 = block(model)
    out = {"metrics": metrics, "ci95": ci95, "baselines": {}, "best_baseline": None}
    for name, samples in baselines.items():
        values, intervals = block(samples)
        out["baselines"][name] = {**values, "ci95": intervals}
    out["best_baseline"] = best_baseline(model, baselines, monitored, higher_is_better, prefix, level)
    return out
