"""Observation → hypothesis (the authors' LLM fine-tuning data): windows of time-sorted events, one held out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.hashing import hash_unit, mix64
from cts.tasks.common import admission_bounds, event_strings, hours_text, join_runs

_TEXT_BATCH = 1 << 19  # windows rendered to text per step, to bound the transient string memory


def _sample_starts(hadm: np.ndarray, bounds: np.ndarray, window: int, max_per_admission: int, seed: int):
    """Row index of each chosen window start and its sampling key: per admission, the ``max_per_admission``
    candidate starts with the smallest seeded hash (a sample without replacement, independent of storage order)."""
    n_starts = np.maximum(np.diff(bounds) - window + 1, 0)
    group = np.repeat(np.arange(len(n_starts)), n_starts)
    group_first = np.concatenate([[0], np.cumsum(n_starts)[:-1]])
    local_start = np.arange(len(group)) - group_first[group]
    key = hadm[bounds[:-1][group]] * 1_000_003 + local_start
    order = np.argsort(group + hash_unit(key, seed), kind="stable")
    rank = np.arange(len(order)) - group_first[group[order]]
    chosen = np.sort(order[rank < max_per_admission])
    return bounds[:-1][group[chosen]] + local_start[chosen], local_start[chosen], key[chosen]


def _row_identity(events: pd.DataFrame) -> np.ndarray:
    """One integer per (time, event) value, so equal ``t:event`` texts have equal ids (dedup without strings)."""
    time_id = pd.factorize(events["time"].to_numpy())[0].astype(np.int64)
    codes = events["event"].cat.codes.to_numpy().astype(np.int64) if isinstance(
        events["event"].dtype, pd.CategoricalDtype) else pd.factorize(events["event"].to_numpy())[0].astype(np.int64)
    return codes * (time_id.max(initial=0) + 1) + time_id


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
    start, local_start, key = _sample_starts(hadm, bounds, window, max_per_admission, seed)
    held_out = (mix64(key, seed + 1) % np.uint64(window)).astype(np.int64)
    positions = start[:, None] + np.arange(window)[None, :]
    hypothesis_row = positions[np.arange(len(start)), held_out]
    observation_rows = positions[np.arange(window)[None, :] != held_out[:, None]].reshape(len(start), window - 1)

    identity = _row_identity(events)
    signature = pd.DataFrame(np.column_stack([hadm[start], identity[hypothesis_row], identity[observation_rows]]))
    unique = ~signature.duplicated().to_numpy()
    start, local_start, held_out = start[unique], local_start[unique], held_out[unique]
    hypothesis_row, observation_rows = hypothesis_row[unique], observation_rows[unique]

    names = event_strings(events)
    entries = pc.binary_join_element_wise(hours_text(hours), names, ":")
    offsets = np.arange(0, _TEXT_BATCH * (window - 1) + 1, window - 1, dtype=np.int64)
    observation = pa.chunked_array(
        [join_runs(entries.take(pa.array(rows.ravel())), offsets[: len(rows) + 1], separator)
         for rows in np.array_split(observation_rows, max(1, -(-len(start) // _TEXT_BATCH)))],
        type=pa.string(),
    )
    return pd.DataFrame(
        {
            "hadm_id": hadm[start],
            "window_start": local_start.astype(np.int32),
            "hypothesis_index": held_out.astype(np.int8),
            "observation": observation.to_pandas(),
            "hypothesis": entries.take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_event": names.take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_time": hours[hypothesis_row],
        }
    )
