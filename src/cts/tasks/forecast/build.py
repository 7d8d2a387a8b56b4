"""Observation → hypothesis windows of time-sorted events.

``target=next`` (the default) is forecasting: the observation is the ``window - 1`` events before, the hypothesis
the event after them, so no observed event is later than the answer. ``target=any`` is the authors' fill-in data: a
seeded event anywhere in the window is held out and the others, before and after it, are observed.

``format=ours`` renders entries as ``hours:event`` (compact hours, ``24`` not ``24.0``) joined by newlines;
``format=authors`` reproduces the released fine-tuning text exactly: Python's ``str`` of the float hours
(``24.0``, ``-0.5``), ``:``, the event, entries joined by ``", "`` (their ``normalization_LLM_ft_generation.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.hashing import hash_unit, mix64
from cts.tasks.common import admission_bounds, event_strings, hours_text, join_runs

TARGETS = ("next", "any")
FORMATS = ("ours", "authors")
_SEPARATORS = {"ours": "\n", "authors": ", "}
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


def _tie_run_end(hadm: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """For each row, one past the last row of its run of equal (admission, time): the events tied with it."""
    change = np.flatnonzero((hadm[1:] != hadm[:-1]) | (hours[1:] != hours[:-1])) + 1
    ends = np.concatenate([change, [len(hadm)]])
    return ends[np.searchsorted(ends, np.arange(len(hadm)), side="right")]


def _authors_hours(hours: np.ndarray) -> pa.Array:
    """Python's ``str`` of each float hour, as the authors' f-string rendered pandas' float column."""
    return pa.array([str(value) for value in np.asarray(hours, dtype=np.float64).tolist()], type=pa.string())


def _lists(values: pa.Array, counts: np.ndarray) -> pd.Series:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values).to_pandas()


def build_forecast_windows(events: pd.DataFrame, window: int = 11, max_per_admission: int = 10, seed: int = 0,
                           target: str = "next", format: str = "ours") -> pd.DataFrame:
    """Up to ``max_per_admission`` distinct contiguous windows per admission; the hypothesis ``time:event`` is the
    window's last event (``target=next``) or a seeded one (``target=any``), the others, in order, the observation.

    Besides the texts each row keeps the truth (``hypothesis_event``, ``hypothesis_time``), the events tied with it
    (``hypothesis_ties``: the answer and the unobserved events of the admission at the same time, later in narrative
    order — any of them is a correct next event), and the observation's ``observation_times``,
    ``observation_events`` and ``last_event`` (what the baselines condition on and the model may exclude).
    Duplicate windows are dropped.
    """
    if window < 2 or max_per_admission < 1:
        raise ValueError(f"need window >= 2 and max_per_admission >= 1, got {window}, {max_per_admission}")
    if target not in TARGETS:
        raise ValueError(f"task.build.target must be one of {TARGETS}, got {target!r}")
    if format not in FORMATS:
        raise ValueError(f"task.build.format must be one of {FORMATS}, got {format!r}")
    hadm = events["hadm_id"].to_numpy()
    hours = events["time"].to_numpy()
    bounds = admission_bounds(hadm)
    start, local_start, key = _sample_starts(hadm, bounds, window, max_per_admission, seed)
    if target == "next":
        held_out = np.full(len(start), window - 1, dtype=np.int64)
    else:
        held_out = (mix64(key, seed + 1) % np.uint64(window)).astype(np.int64)
    positions = start[:, None] + np.arange(window)[None, :]
    hypothesis_row = positions[np.arange(len(start)), held_out]
    observation_rows = positions[np.arange(window)[None, :] != held_out[:, None]].reshape(len(start), window - 1)

    identity = _row_identity(events)
    signature = pd.DataFrame(np.column_stack([hadm[start], identity[hypothesis_row], identity[observation_rows]]))
    unique = ~signature.duplicated().to_numpy()
    start, local_start, held_out = start[unique], local_start[unique], held_out[unique]
    hypothesis_row, observation_rows = hypothesis_row[unique], observation_rows[unique]

    # tied events: the answer, then the rows after the window at the answer's time (rows inside the window are
    # observed); a run of equal times is contiguous, so they exist only if the run reaches past the window's end
    window_end = start + window - 1
    extra = np.maximum(_tie_run_end(hadm, hours)[hypothesis_row] - window_end - 1, 0)
    tie_counts = 1 + extra
    tie_first = np.repeat(np.concatenate([[0], np.cumsum(tie_counts)[:-1]]), tie_counts)
    tie_offset = np.arange(tie_counts.sum()) - tie_first
    tie_rows = np.where(tie_offset == 0, np.repeat(hypothesis_row, tie_counts),
                        np.repeat(window_end, tie_counts) + tie_offset)

    names = event_strings(events)
    times = hours_text(hours) if format == "ours" else _authors_hours(hours)
    entries = pc.binary_join_element_wise(times, names, ":")
    offsets = np.arange(0, _TEXT_BATCH * (window - 1) + 1, window - 1, dtype=np.int64)
    observation = pa.chunked_array(
        [join_runs(entries.take(pa.array(rows.ravel())), offsets[: len(rows) + 1], _SEPARATORS[format])
         for rows in np.array_split(observation_rows, max(1, -(-len(start) // _TEXT_BATCH)))],
        type=pa.string(),
    )
    width = np.full(len(start), window - 1)
    return pd.DataFrame(
        {
            "hadm_id": hadm[start],
            "window_start": local_start.astype(np.int32),
            "hypothesis_index": held_out.astype(np.int8),
            "observation": observation.to_pandas(),
            "hypothesis": entries.take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_event": names.take(pa.array(hypothesis_row)).to_pandas(),
            "hypothesis_time": hours[hypothesis_row],
            "hypothesis_ties": _lists(names.take(pa.array(tie_rows)), tie_counts),
            "last_event": names.take(pa.array(observation_rows[:, -1])).to_pandas(),
            "observation_times": _lists(pa.array(hours[observation_rows.ravel()]), width),
            "observation_events": _lists(names.take(pa.array(observation_rows.ravel())), width),
        }
    )
