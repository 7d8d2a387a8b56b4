"""Observation → hypothesis (the authors' LLM fine-tuning data): windows of time-sorted events, one held out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.data.splits import hash_unit, mix64
from cts.tasks.common import admission_bounds, event_strings, hours_text, join_runs


def build_forecast_windows(
    events: pd.DataFrame, window: int = 11, max_per_admission: int = 10, seed: int = 0, separator: str = "\n"
) -> pd.DataFrame:
    """Up to ``max_per_admission`` distinct contiguous windows per admission; one event of each (seeded) becomes
    the hypothesis ``time:event``, the others, in order, the observation. Duplicate windows are dropped."""
    if window < 2 or max_per_admission < 1:
        raise ValueError(f"need window >= 2 and max_per_admission >= 1, got {window}, {max_per_admission}")
    hadm = events["hadm_id"].to_numpy()
    hours = events["time"].to_numpy()
    bounds = admission_bounds(hadm)
    n_starts = np.maximum(np.diff(bounds) - window + 1, 0)
    group = np.repeat(np.arange(len(n_starts)), n_starts)
    group_first = np.concatenate([[0], np.cumsum(n_starts)[:-1]])
    local_start = np.arange(len(group)) - group_first[group]
    start = bounds[:-1][group] + local_start
    key = hadm[start] * 1_000_003 + local_start
    # Keep the max_per_admission candidates with the smallest hash per admission (a seeded sample without replacement).
    order = np.argsort(group + hash_unit(key, seed), kind="stable")
    rank = np.arange(len(order)) - group_first[group[order]]
    chosen = np.sort(order[rank < max_per_admission])
    start, key = start[chosen], key[chosen]
    held_out = (mix64(key, seed + 1) % np.uint64(window)).astype(np.int64)

    entries = pc.binary_join_element_wise(hours_text(hours), event_strings(events), ":")
    positions = start[:, None] + np.arange(window)[None, :]
    hypothesis_row = positions[np.arange(len(start)), held_out]
    keep = np.arange(window)[None, :] != held_out[:, None]
    observation_rows = positions[keep]
    offsets = np.arange(0, len(observation_rows) + 1, window - 1, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "hadm_id": hadm[start],
            "window_start": (start - bounds[:-1][np.searchsorted(bounds, start, side="right") - 1]).astype(np.int32),
            "hypothesis_index": held_out.astype(np.int8),
            "observation": join_runs(entries.take(pa.array(observation_rows)), offsets, separator).to_pandas(),
            "hypothesis": entries.take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_event": event_strings(events).take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_time": hours[hypothesis_row],
        }
    )
    return frame.drop_duplicates(["hadm_id", "observation", "hypothesis"]).reset_index(drop=True)
