"""Next-event baselines fitted on the train admissions, predicting exactly the model's test probes."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cts.data.time_bins import log_bucket
from cts.training.metrics import EVENT_METRICS, TIME_METRICS, bucket_hours, normalize_event
from cts.training.ngram import KneserNey
from cts.training.ngram import predict as predict_kn
from cts.training.sequence_baselines import FollowerTable, ranked

log = logging.getLogger(__name__)


def fit_and_predict(train: pd.DataFrame, probes: list[dict], k: int) -> dict[str, tuple[list, tuple]]:
    """Baseline name → (candidates per probe, metrics it predicts):

    - ``most_frequent``: the k most frequent next events of train (events after an admission's first);
    - ``bigram``: the k most frequent followers of the previous event (then the most frequent events);
    - ``bigram_unseen``: the same, skipping events already seen in the admission (events are unique per admission);
    - ``bucket``: the most common log-time bucket after the previous event's bucket (its middle as hours);
    - ``last_time``: the previous event's time, copied.
    """
    table, buckets = FollowerTable(), defaultdict(Counter)
    for events, times in zip(train["events"], train["times"]):
        times = log_bucket(np.asarray(times, dtype=np.float64))
        for position in range(1, len(events)):
            table.add(str(events[position - 1]), str(events[position]))
            buckets[int(times[position - 1])][int(times[position])] += 1
    overall_bucket = ranked(sum(buckets.values(), Counter()))[0]

    def next_bucket(hours: float) -> int:
        after = buckets.get(int(log_bucket(np.array([hours]))[0]))
        return ranked(after)[0] if after else overall_bucket

    def events_only(predict):
        return [[(None, event) for event in predict(probe)] for probe in probes], EVENT_METRICS

    return {
        "most_frequent": events_only(lambda p: table.most_frequent(k)),
        "bigram": events_only(lambda p: table.followers(p["previous_event"], k)),
        "bigram_unseen": events_only(lambda p: table.followers(p["previous_event"], k, exclude=p["seen"])),
        "bucket": ([[(bucket_hours(next_bucket(p["previous_hours"])), "")] for p in probes], TIME_METRICS),
        "last_time": ([[(p["previous_hours"], "")] for p in probes], TIME_METRICS),
    }


KN_ORDERS = (1, 2, 3, 4)


def _positions(frame: pd.DataFrame):
    """(history, next event) at every position after the first of each admission of a split."""
    for events in frame["events"]:
        events = [str(e) for e in events]
        for position in range(1, len(events)):
            yield events[:position], events[position]


def kneser_ney_baselines(train: pd.DataFrame, val: pd.DataFrame, probes: list[dict], k: int, orders=KN_ORDERS,
                         vocabulary: Iterable[str] | None = None) -> dict[str, tuple[list, np.ndarray]]:
    """Interpolated Kneser–Ney over the train admissions' event sequences, its order the one with the fewest bits
    per event on val (every position; never test): ``kneser_ney`` (its k most probable events) and
    ``kneser_ney_unseen`` (the events already seen in the admission removed, the rest renormalized), each with
    −log2 P(true event) per probe (``event_bits``; an event never seen in train is the unknown bucket). With
    ``vocabulary`` (the events the model ranks), an event outside it is scored as one bucket, the mass of every
    event outside it: the outcomes the model's event bits are over, so the two compare like for like."""
    sequences = [[str(e) for e in events] for events in train["events"]]
    held_out = list(_positions(val))
    best, best_bits = None, np.inf
    for order in orders:
        model = KneserNey(sequences, order=order)
        bits = np.mean([-model.log2_probability(h, e) for h, e in held_out]) if held_out else 0.0
        log.info("nextevent baseline kneser_ney: order %d, val %.3f bits per event", order, bits)
        if bits < best_bits:
            best, best_bits = model, bits
    log.info("nextevent baseline kneser_ney: order %d chosen on val", best.order)
    kept = None if vocabulary is None else {normalize_event(str(e)) for e in vocabulary}
    outside = None if kept is None else np.array([token not in kept for token in best.vocabulary])
    out = {}
    for name, unseen in (("kneser_ney", False), ("kneser_ney_unseen", True)):
        predictions, bits = [], np.zeros(len(probes))
        for i, probe in enumerate(probes):
            events, distribution = predict_kn(best, probe["seen"], k, probe["seen"] if unseen else ())
            predictions.append([(None, event) for event in events])
            bucket = kept is not None and normalize_event(probe["event"]) not in kept
            bits[i] = -np.log2(distribution[outside].sum() if bucket else distribution[best.token(probe["event"])])
        out[name] = (predictions, bits)
    return out
