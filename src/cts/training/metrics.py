"""Metrics on predicted events: parsing ``time``/``event`` out of generated text, token F1, the confusion matrix
figure. Counters are torchmetrics sums so they add up across DDP ranks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics import SumMetric

from cts.data.time_bins import LOG_BUCKET_EDGES, log_bucket
from cts.data.timelines import parse_hours as timeline_hours
from cts.io import atomic_path

_BUCKET = re.compile(r"^\[T([+-]?\d+)\]$")


def normalize_event(text: str) -> str:
    """Case- and space-insensitive form used to compare events (BERT tokenizers lowercase)."""
    return " ".join(str(text).lower().split())


def bucket_hours(index: int) -> float:
    """A representative time (hours) inside signed log bucket ``index`` (geometric middle of its edges)."""
    magnitude = abs(index)
    if magnitude == 0:
        return 0.0
    lower = 0.0 if magnitude == 1 else LOG_BUCKET_EDGES[magnitude - 2]
    upper = LOG_BUCKET_EDGES[magnitude - 1] if magnitude - 1 < len(LOG_BUCKET_EDGES) else 2 * lower
    middle = upper / 2 if lower == 0 else float(np.sqrt(lower * upper))
    return float(np.sign(index) * middle)


def parse_hours(text: str) -> float | None:
    """Hours from a rendered time: a bucket token (``[T+5]``) or a time in the one timeline grammar
    (:func:`cts.data.timelines.parse_hours`: ``-24``, ``2.5``, ``–48``), read after removing the spaces a decoder
    puts between digit tokens (``1 2`` → 12); None if neither."""
    text = text.strip().replace(" ", "")
    match = _BUCKET.match(text)
    if match:
        return bucket_hours(int(match.group(1)))
    return timeline_hours(text)


def token_f1(predicted: str, truth: str) -> float:
    """Word-overlap F1 between two event strings (SQuAD-style)."""
    p, t = normalize_event(predicted).split(), normalize_event(truth).split()
    common = sum((Counter(p) & Counter(t)).values())
    if not p or not t or common == 0:
        return float(p == t)
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


class EventPredictionMetrics(nn.Module):
    """Accumulates, over predictions of (hours, event) with k candidates each: top-1 and top-k event match,
    token F1 of the top-1, time-bucket accuracy and |Δhours| of the top-1 where its time parses."""

    FIELDS = ("n", "top1", "topk", "token_f1", "parsed", "bucket_correct", "abs_hours")

    def __init__(self):
        super().__init__()
        self.sums = nn.ModuleDict({name: SumMetric() for name in self.FIELDS})

    def update(self, candidates: list[tuple[float | None, str]], hours: float, event: str) -> None:
        truth = normalize_event(event)
        best_hours, best_event = candidates[0]
        values = {"n": 1.0, "top1": float(normalize_event(best_event) == truth),
                  "topk": float(any(normalize_event(e) == truth for _, e in candidates)),
                  "token_f1": token_f1(best_event, event), "parsed": float(best_hours is not None),
                  "bucket_correct": 0.0, "abs_hours": 0.0}
        if best_hours is not None:
            values["bucket_correct"] = float(log_bucket(np.array([best_hours]))[0] == log_bucket(np.array([hours]))[0])
            values["abs_hours"] = abs(best_hours - hours)
        for name, value in values.items():
            self.sums[name].update(torch.tensor(value, dtype=torch.float64))

    def compute(self) -> dict[str, float]:
        total = {name: float(metric.compute()) for name, metric in self.sums.items()}
        n, parsed = max(total["n"], 1.0), total["parsed"]
        return {"top1": total["top1"] / n, "topk": total["topk"] / n, "token_f1": total["token_f1"] / n,
                "time_parsed": parsed / n, "time_bucket_acc": total["bucket_correct"] / n,
                "hours_mae": total["abs_hours"] / parsed if parsed else float("nan")}

    def reset(self) -> None:
        for metric in self.sums.values():
            metric.reset()


def save_confusion_matrix(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """PNG of a confusion matrix (rows = truth, columns = prediction), counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4, 3.5))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    for (row, column), value in np.ndenumerate(matrix):
        axis.text(column, row, int(value), ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temp:
        figure.savefig(temp, dpi=100)
    plt.close(figure)
    return path
