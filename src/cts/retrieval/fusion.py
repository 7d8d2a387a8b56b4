"""Reciprocal-rank fusion, neighbourhood smoothing and per-note selection (top-k and/or a score threshold)."""

from __future__ import annotations

import numpy as np


def ranks(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """1-based ranks by descending score (ties: earlier chunk first); ``inf`` where not ``valid``."""
    valid = np.ones(len(scores), dtype=bool) if valid is None else valid
    order = np.argsort(-np.where(valid, scores, -np.inf), kind="stable")
    result = np.empty(len(scores), dtype=np.float64)
    result[order] = np.arange(1, len(scores) + 1)
    result[~valid] = np.inf
    return result


def reciprocal_rank_fusion(rank_lists: list[np.ndarray], weights: list[float], k: float = 60.0) -> np.ndarray:
    """Σ_i weight_i / (k + rank_i); a list that did not rank a chunk (rank ``inf``) adds nothing."""
    if len(rank_lists) != len(weights):
        raise ValueError(f"{len(rank_lists)} rank lists but {len(weights)} weights")
    total = np.zeros(len(rank_lists[0]) if rank_lists else 0, dtype=np.float64)
    for rank, weight in zip(rank_lists, weights):
        total += weight / (k + rank)
    return total


def select(scores: np.ndarray, eligible: np.ndarray, top_k: int | None, min_score: float | None) -> np.ndarray:
    """Indices of the kept chunks, best first: eligible, at least ``min_score``, at most ``top_k``."""
    keep = eligible if min_score is None else eligible & (scores >= min_score)
    order = np.argsort(-np.where(keep, scores, -np.inf), kind="stable")[: int(keep.sum())]
    return order if top_k is None else order[:top_k]


def smooth(scores: np.ndarray, eligible: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each chunk scored by the mean over itself and ``width`` chunks each side (unmatched chunks count 0), eligible
    when any of them is: events cluster (a case presentation, a hospital course), so a chunk amid matched chunks
    is worth more than an isolated match, and best-first selection then keeps contiguous passages."""
    if width == 0 or len(scores) == 0:
        return scores, eligible
    index = np.arange(len(scores))
    lo, hi = np.maximum(index - width, 0), np.minimum(index + width + 1, len(scores))

    def window_sum(values: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
        return total[hi] - total[lo]

    return window_sum(np.where(eligible, scores, 0.0)) / (2 * width + 1), window_sum(eligible) > 0
