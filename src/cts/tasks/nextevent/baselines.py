"""Next-event baselines fitted on the train admissions, predicting exactly the model's test probes."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from cts.data.time_bins import log_bucket
from cts.training.metrics import EVENT_METRICS, TIME_METRICS, bucket_hours
from cts.training.sequence_baselines import FollowerTable, ranked


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
