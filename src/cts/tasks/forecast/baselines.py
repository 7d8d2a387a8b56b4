"""Forecast baselines fitted on the train windows, predicting exactly the model's test windows."""

from __future__ import annotations

import pandas as pd

from cts.training.metrics import EVENT_METRICS, TIME_METRICS
from cts.training.sequence_baselines import FollowerTable, mode


def fit_and_predict(train: pd.DataFrame, probes: list[dict], k: int) -> dict[str, tuple[list, tuple]]:
    """Baseline name → (candidates per probe, metrics it predicts):

    - ``most_frequent``: the k most frequent hypothesis events of train;
    - ``bigram``: the k most frequent train hypotheses after the observation's last event (then the most frequent);
    - ``bigram_unseen``: the same, skipping the observation's events (for data whose admissions never repeat one);
    - ``observed_time_mode``: the most common time in the observation (ties: the latest);
    - ``last_time``: the observation's last time, copied.
    """
    table = FollowerTable()
    for previous, following in zip(train["last_event"], train["hypothesis_event"]):
        table.add(str(previous), str(following))
    def events_only(predict):
        return [[(None, event) for event in predict(probe)] for probe in probes], EVENT_METRICS

    return {
        "most_frequent": events_only(lambda p: table.most_frequent(k)),
        "bigram": events_only(lambda p: table.followers(p["last_event"], k)),
        "bigram_unseen": events_only(lambda p: table.followers(p["last_event"], k, exclude=p["seen"])),
        "observed_time_mode": ([[(mode(p["observation_times"]), "")] for p in probes], TIME_METRICS),
        "last_time": ([[(p["observation_times"][-1], "")] for p in probes], TIME_METRICS),
    }
