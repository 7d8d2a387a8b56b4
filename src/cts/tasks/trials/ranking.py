"""Per-topic ranking metrics from relevance scores (torchmetrics retrieval functions) as bootstrap statistics.

A topic counts only if at least one of its ranked trials is relevant (grade >= ``min_relevant``); the others have
no defined NDCG or reciprocal rank and are left out (their number is returned). NDCG uses the graded judgments,
precision and reciprocal rank the binary ones. Each topic's value sits on its first row, so the admission-style
cluster bootstrap over topics resamples topics, and the mean over resampled topics is a ratio of sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.retrieval import (
    retrieval_normalized_dcg,
    retrieval_precision,
    retrieval_reciprocal_rank,
)

from cts.bootstrap import ratio
from cts.training.evaluation import Statistic

RANKING_METRICS = ("ndcg10", "p10", "mrr")


def per_topic(topics, grades, scores, k: int = 10, min_relevant: int = 1) -> tuple[pd.DataFrame, int]:
    """(one row per ranked topic: ``topic, first_row, ndcg10, p10, mrr``; the number of topics without a relevant
    trial, left out)."""
    frame = pd.DataFrame({"topic": np.asarray(topics), "grade": np.asarray(grades, np.int64),
                          "score": np.asarray(scores, np.float64)}).reset_index(names="row")
    rows, unranked = [], 0
    for topic, part in frame.groupby("topic", sort=False):
        relevant = torch.tensor(part["grade"].to_numpy() >= min_relevant)
        if not relevant.any():
            unranked += 1
            continue
        preds = torch.tensor(part["score"].to_numpy())
        graded = torch.tensor(part["grade"].to_numpy())
        rows.append({"topic": topic, "first_row": int(part["row"].iloc[0]),
                     "ndcg10": float(retrieval_normalized_dcg(preds, graded, top_k=k)),
                     "p10": float(retrieval_precision(preds, relevant, top_k=k)),
                     "mrr": float(retrieval_reciprocal_rank(preds, relevant))})
    return pd.DataFrame(rows, columns=["topic", "first_row", *RANKING_METRICS]), unranked


def ranking_statistics(topics, grades, scores, k: int = 10, min_relevant: int = 1) -> dict[str, Statistic]:
    """NDCG@k, P@k and MRR averaged over ranked topics, as bootstrap statistics over the rows' topics."""
    ranked, _ = per_topic(topics, grades, scores, k, min_relevant)
    n = len(np.asarray(topics))
    counted = np.zeros(n)
    counted[ranked["first_row"].to_numpy(np.int64)] = 1.0

    def statistic(name: str) -> Statistic:
        column = np.zeros(n)
        column[ranked["first_row"].to_numpy(np.int64)] = ranked[name].to_numpy()
        return lambda boot: ratio(boot.sums(column), boot.sums(counted))

    return {name: statistic(name) for name in RANKING_METRICS}


def ranking_values(topics, grades, scores, k: int = 10, min_relevant: int = 1) -> dict[str, float]:
    """The same means on the full sample (epoch metrics); NaN when no topic has a relevant trial."""
    ranked, _ = per_topic(topics, grades, scores, k, min_relevant)
    return {name: float(ranked[name].mean()) if len(ranked) else float("nan") for name in RANKING_METRICS}
