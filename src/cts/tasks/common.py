"""Shared pieces of the task-dataset builders: admission boundaries, vectorized text (the stage that runs a builder
and writes its splits is ``cts.data.task_dataset.run_build``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cts.data.event_table import event_strings  # noqa: F401  (builders' import)


def admission_bounds(hadm_id: np.ndarray) -> np.ndarray:
    """Offsets [0, ..., n] of each admission's run of rows (rows of an admission are contiguous)."""
    change = np.flatnonzero(hadm_id[1:] != hadm_id[:-1]) + 1
    return np.concatenate([[0], change, [len(hadm_id)]]).astype(np.int64)


def hours_text(hours: np.ndarray) -> pa.Array:
    """Compact hours: ``24``, ``-0.5`` (no trailing ``.0``), for model-facing text."""
    return pc.cast(pa.array(np.asarray(hours, dtype=np.float64)), pa.string())


def join_runs(strings: pa.Array, offsets: np.ndarray, separator: str) -> pa.Array:
    """Join consecutive runs of strings (``offsets`` delimit the runs) with ``separator``, vectorized."""
    lists = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32() if offsets[-1] < 2**31 else pa.int64()), strings)
    return pc.binary_join(lists, separator)
