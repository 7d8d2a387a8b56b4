"""Event-sequence language modelling: one ``[TIME] t [EVENT] e`` text per admission, whole admissions in time order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.data.time_bins import bucket_token, log_bucket
from cts.tasks.common import admission_bounds, event_strings, hours_text, join_runs

TIME_FORMATS = ("raw", "bucket")


def time_tokens(hours: np.ndarray, time_format: str) -> pa.Array:
    """Rendered time of each event: raw hours (``-24``, ``2.5``) or a signed log-spaced bucket token (``[T+5]``)."""
    if time_format == "raw":
        return hours_text(hours)
    if time_format == "bucket":
        buckets = log_bucket(hours)
        vocabulary = np.arange(buckets.min(initial=0), buckets.max(initial=0) + 1)
        tokens = pa.array([bucket_token(int(k)) for k in vocabulary], type=pa.string())
        return tokens.take(pa.array(buckets - vocabulary[0]))
    raise ValueError(f"time_format must be one of {TIME_FORMATS}, got {time_format!r}")


def build_sequences(events: pd.DataFrame, time_format: str = "raw", separator: str = "\n") -> pd.DataFrame:
    """One row per admission: ``text`` (lines ``[TIME] t [EVENT] e``), and the ``events``/``times`` lists."""
    hadm = events["hadm_id"].to_numpy()
    hours = events["time"].to_numpy()
    bounds = admission_bounds(hadm)
    names = event_strings(events)
    lines = pc.binary_join_element_wise("[TIME] ", time_tokens(hours, time_format), " [EVENT] ", names, "")
    offsets = pa.array(bounds, type=pa.int64())
    return pd.DataFrame(
        {
            "hadm_id": hadm[bounds[:-1]],
            "n_events": np.diff(bounds).astype(np.int32),
            "text": join_runs(lines, bounds, separator).to_pandas(),
            "events": pa.LargeListArray.from_arrays(offsets, names).to_pandas(),
            "times": pa.LargeListArray.from_arrays(offsets, pa.array(hours)).to_pandas(),
        }
    )
