"""Metrics on predicted events: parsing ``time``/``event`` out of generated text, token F1, per-row scoring of
predicted next events (model and baselines alike) into bootstrap-ready statistics."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from cts.bootstrap import ClusterBootstrap, mean, ratio
from cts.data.time_bins import LOG_BUCKET_EDGES, log_bucket
from cts.data.timelines import parse_hours as timeline_hours

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


Candidate = tuple[float | None, str]  # (hours, event) of one predicted next event; hours None when unparsed


def distinct_events(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The first ``k`` candidates with distinct events (beams that repeat an event with another time collapse)."""
    seen, out = set(), []
    for hours, event in candidates:
        key = normalize_event(event)
        if key and key not in seen:
            seen.add(key)
            out.append((hours, event))
        if len(out) == k:
            break
    return out


def score_events(predictions: list[list[Candidate]], truths: list[dict], k: int) -> dict[str, np.ndarray]:
    """Per-row columns for the prediction of each truth (``event``, ``hours``, ``ties``: every event at the true
    event's time that is still unobserved, the true one included): strict and tie-aware top-1 and top-k over the
    predicted distinct events, token F1 of the top-1, and for the top-1's time whether it parsed, its log-bucket
    match and its absolute error. Model and baselines are scored by this one function."""
    columns = {name: np.zeros(len(truths)) for name in
               ("top1", "top1_tied", "topk", "topk_tied", "token_f1", "parsed", "bucket_correct", "abs_error",
                "history")}
    for row, (candidates, truth) in enumerate(zip(predictions, truths)):
        events = [normalize_event(event) for _, event in distinct_events(candidates, k)]
        true_event = normalize_event(truth["event"])
        ties = {normalize_event(event) for event in truth.get("ties", ())} | {true_event}
        columns["history"][row] = float(truth["hours"] < 0)
        if events:
            columns["top1"][row] = events[0] == true_event
            columns["top1_tied"][row] = events[0] in ties
            columns["topk"][row] = true_event in events
            columns["topk_tied"][row] = not ties.isdisjoint(events)
        best_hours, best_event = candidates[0] if candidates else (None, "")
        columns["token_f1"][row] = token_f1(best_event, truth["event"]) if best_event else 0.0
        if best_hours is not None:
            columns["parsed"][row] = 1.0
            columns["bucket_correct"][row] = log_bucket(np.array([best_hours]))[0] == log_bucket(
                np.array([truth["hours"]]))[0]
            columns["abs_error"][row] = abs(best_hours - truth["hours"])
    return columns


EVENT_METRICS = ("top1", "top1_tied", "topk", "topk_tied")
TIME_METRICS = ("time_parsed", "time_bucket_acc", "hours_mae", "hours_mae_history", "hours_mae_stay")


def event_statistics(columns: dict[str, np.ndarray], names=EVENT_METRICS + ("token_f1",) + TIME_METRICS) -> dict:
    """Metric name → function of a ``ClusterBootstrap`` giving its samples. Hours MAE is over the rows whose time
    parsed (report it with ``time_parsed``), overall and split into history (true time < 0 h) and stay (>= 0 h)."""
    parsed, error, history = columns["parsed"], columns["abs_error"], columns["history"]
    statistics = {
        **{name: _mean_of(columns[name]) for name in EVENT_METRICS + ("token_f1",)},
        "time_parsed": _mean_of(parsed),
        "time_bucket_acc": _mean_of(columns["bucket_correct"]),
        "hours_mae": _mae(error, parsed),
        "hours_mae_history": _mae(error, parsed * history),
        "hours_mae_stay": _mae(error, parsed * (1 - history)),
    }
    return {name: statistics[name] for name in names}


def likelihood_statistics(log_likelihood: np.ndarray, n_tokens: np.ndarray) -> dict:
    """Bits per event (−log2 p of each true event's tokens, summed, averaged over events: comparable across
    tokenizers) and the per-token perplexity of the same spans."""
    bits = -np.asarray(log_likelihood, dtype=np.float64) / np.log(2)
    return {"bits_per_event": _mean_of(bits),
            "token_perplexity": lambda boot: np.exp(ratio(boot.sums(bits * np.log(2)), boot.sums(n_tokens)))}


def point_values(statistics: dict, groups) -> dict[str, float]:
    """The full-sample value of each statistic (no resampling): what the epoch logs."""
    boot = ClusterBootstrap(groups, n_resamples=1)
    return {name: float(statistic(boot)[0]) for name, statistic in statistics.items()}


def _mean_of(values):
    return lambda boot: mean(boot, values)


def _mae(error, weight):
    return lambda boot: ratio(boot.sums(error * weight), boot.sums(weight))
