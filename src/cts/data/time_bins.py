"""The authors' 9 relative-time bins and our signed log-spaced time buckets."""

from __future__ import annotations

import numpy as np

# Bin edges in hours (−∞, −60, −30, −15, 0, 15, 30, 60, 120, ∞), left-closed: bin k holds EDGES[k-1] <= t < EDGES[k].
PAPER_BIN_EDGES = np.array([-60.0, -30.0, -15.0, 0.0, 15.0, 30.0, 60.0, 120.0])
N_PAPER_BINS = len(PAPER_BIN_EDGES) + 1

# Magnitude edges (hours) of the signed log-spaced buckets: 1 h, 3 h, 6 h, 12 h, 1 d, 2 d, 4 d, 1 w, 2 w, 1 mo,
# 3 mo, 6 mo, 1 y. Bucket ±k holds edge[k-1] <= |t| < edge[k]; exactly 0 is its own bucket.
LOG_BUCKET_EDGES = np.array([1, 3, 6, 12, 24, 48, 96, 168, 336, 720, 2160, 4320, 8760], dtype=np.float64)


def time_bin(hours: np.ndarray) -> np.ndarray:
    """Index (0..8) of the authors' time bin for each time."""
    return np.searchsorted(PAPER_BIN_EDGES, np.asarray(hours, dtype=np.float64), side="right").astype(np.int8)


def log_bucket(hours: np.ndarray) -> np.ndarray:
    """Signed bucket index: 0 for t == 0, ±(1 + number of magnitude edges <= |t|) otherwise."""
    hours = np.asarray(hours, dtype=np.float64)
    magnitude = np.searchsorted(LOG_BUCKET_EDGES, np.abs(hours), side="right") + 1
    return (np.sign(hours) * magnitude).astype(np.int16)


def log_bucket_tokens() -> list[str]:
    """Every bucket token, in order, so tokenizers can add them as special tokens."""
    top = len(LOG_BUCKET_EDGES) + 1
    return [bucket_token(k) for k in range(-top, top + 1)]


def bucket_token(index: int) -> str:
    return f"[T{index:+d}]" if index else "[T0]"
