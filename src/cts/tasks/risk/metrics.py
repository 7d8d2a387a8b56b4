"""Admission-level risk metrics with bootstrap samples: AUROC, AUPRC (average precision) and the Brier score.

AUROC and AUPRC are not functions of per-row column sums, so each resample is scored on its own: a resample is a
vector of per-row weights (how often each row's admission was drawn, ``boot.counts[:, boot.codes]``), and the
weighted statistics are computed for all resamples at once from one sort of the scores (ties count one half for
AUROC, and form one threshold for AUPRC, as in scikit-learn with ``sample_weight``).
"""

from __future__ import annotations

import numpy as np

from cts.bootstrap import ClusterBootstrap, mean

_ROWS = 100  # resamples scored per block: bounds memory to _ROWS × n_rows floats


def _weights(boot: ClusterBootstrap) -> np.ndarray:
    """(1 + B, n_rows): row 0 all ones (the full sample), then each resample's per-row weights."""
    return np.concatenate([np.ones((1, boot.n_rows)), boot.counts[:, boot.codes].astype(np.float64)])


def _grouped(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, descending: bool):
    """Per tie-group sums of positive and negative weights, groups in score order: (R, G) each."""
    order = np.argsort(-scores if descending else scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positive = labels[order].astype(bool)
    w = weights[:, order]
    return (np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1),
            np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1))


def weighted_auroc(scores, labels, weights) -> np.ndarray:
    """AUROC for each row of ``weights`` (R, n): P(score_pos > score_neg) + ½ P(tie), pairs weighted."""
    scores, labels, weights = np.asarray(scores, float), np.asarray(labels), np.atleast_2d(weights)
    out = []
    for block in range(0, len(weights), _ROWS):
        pos, neg = _grouped(scores, labels, weights[block:block + _ROWS], descending=False)
        below = np.cumsum(neg, axis=1) - neg
        numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
        denominator = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan))
    return np.concatenate(out)


def weighted_auprc(scores, labels, weights) -> np.ndarray:
    """Average precision for each row of ``weights``: Σ over thresholds of (recall step) × precision."""
    scores, labels, weights = np.asarray(scores, float), np.asarray(labels), np.atleast_2d(weights)
    out = []
    for block in range(0, len(weights), _ROWS):
        pos, neg = _grouped(scores, labels, weights[block:block + _ROWS], descending=True)
        true_pos, flagged = np.cumsum(pos, axis=1), np.cumsum(pos + neg, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(flagged > 0, true_pos / np.where(flagged > 0, flagged, 1), 0.0)
            total = pos.sum(axis=1)
            out.append(np.where(total > 0, (pos * precision).sum(axis=1) / np.where(total > 0, total, 1), np.nan))
    return np.concatenate(out)


def risk_statistics(probabilities, labels) -> dict:
    """The metric functions of ``TestEvaluation`` for one predictor: name → (ClusterBootstrap → samples)."""
    probabilities, labels = np.asarray(probabilities, float), np.asarray(labels, float)
    return {"auroc": lambda boot: weighted_auroc(probabilities, labels, _weights(boot)),
            "auprc": lambda boot: weighted_auprc(probabilities, labels, _weights(boot)),
            "brier": lambda boot: mean(boot, (probabilities - labels) ** 2)}
