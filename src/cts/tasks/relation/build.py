"""Event-pair temporal relation: pairs of time-adjacent events within an admission, labelled same/after/before."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cts.hashing import hash_unit
from cts.tasks.common import admission_bounds, event_strings

LABELS = ("same", "after", "before")  # relation of the second event to the first
PAIRINGS = ("random", "seed")


def build_relation_pairs(events: pd.DataFrame, pairing: str = "random", seed: int = 0) -> pd.DataFrame:
    """Consecutive events of each time-sorted admission as pairs.

    ``pairing=seed`` keeps the authors' order (first event never later, so "before" never occurs);
    ``pairing=random`` swaps each pair with probability 1/2, decided by hashing (admission, position, seed),
    so all three classes occur and the result does not depend on the order admissions are stored in.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    hadm = events["hadm_id"].to_numpy()
    time = events["time"].to_numpy()
    first = np.flatnonzero(hadm[1:] == hadm[:-1])
    second = first + 1
    if pairing == "random":
        bounds = admission_bounds(hadm)
        position = first - np.repeat(bounds[:-1], np.diff(bounds))[first]
        swap = hash_unit(hadm[first] * 1_000_003 + position, seed) < 0.5
        first, second = np.where(swap, second, first), np.where(swap, first, second)
    time_a, time_b = time[first], time[second]
    label = np.select([time_b == time_a, time_b > time_a], [0, 1], default=2).astype(np.int8)
    text = event_strings(events)
    bins = events["time_bin"].to_numpy() if "time_bin" in events.columns else None
    frame = pd.DataFrame(
        {
            "hadm_id": hadm[first],
            "event_a": text.take(first).to_pandas(),
            "event_b": text.take(second).to_pandas(),
            "time_a": time_a,
            "time_b": time_b,
            "label": label,
            "label_name": pd.Categorical.from_codes(label, categories=list(LABELS)),
        }
    )
    if bins is not None:
        frame.insert(5, "bin_a", bins[first])
        frame.insert(6, "bin_b", bins[second])
    return frame
