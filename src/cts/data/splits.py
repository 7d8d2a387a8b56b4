"""Deterministic train/val/test splits by hashing admission (or subject) ids: independent of row order and chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cts.data.event_table import read_event_table
from cts.hashing import hash_unit
from cts.io import atomic_path, refuse_overwrite
from cts.utils import announce

SPLITS = ("train", "val", "test")  # the one definition; every split loop reads it


def assign_splits(ids: np.ndarray, ratios=(0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
    """Split name for each id; the same id always lands in the same split for a given seed and ratios."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.shape != (3,) or (ratios < 0).any() or not np.isclose(ratios.sum(), 1.0):
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {list(ratios)}")
    bounds = np.cumsum(ratios)[:2]
    return np.asarray(SPLITS)[np.searchsorted(bounds, hash_unit(ids, seed), side="right")]


def make_splits(events: pd.DataFrame, ratios=(0.8, 0.1, 0.1), seed: int = 0) -> pd.DataFrame:
    """One row per admission; by patient when ``subject_id`` is known (no patient spans two splits)."""
    if "subject_id" in events.columns:
        admissions = events[["hadm_id", "subject_id"]].drop_duplicates("hadm_id")
        split = assign_splits(admissions["subject_id"].to_numpy(), ratios, seed)
    else:
        admissions = pd.DataFrame({"hadm_id": pd.unique(events["hadm_id"])})
        split = assign_splits(admissions["hadm_id"].to_numpy(), ratios, seed)
    frame = admissions.assign(split=pd.Categorical(split, categories=list(SPLITS)))
    return frame.sort_values("hadm_id", kind="stable").reset_index(drop=True)


def write_splits(splits: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as temp:
        splits.assign(split=splits["split"].astype(str)).to_parquet(temp, index=False)
    return path


def read_splits(path: str | Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    missing = {"hadm_id", "split"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    unknown = set(frame["split"].unique()) - set(SPLITS)
    if unknown:
        raise ValueError(f"{path}, column 'split': unknown split name(s) {sorted(unknown)}; expected {SPLITS}")
    return frame


def splits_for(events: pd.DataFrame, events_path: str | Path, splits_path=None, ratios=(0.8, 0.1, 0.1), seed=0):
    """The persisted splits for an event table: given, beside the input, or created there once (never per task)."""
    path = Path(splits_path) if splits_path else Path(events_path).with_name("splits.parquet")
    if path.exists():
        return read_splits(path)
    splits = make_splits(events, ratios, seed)
    write_splits(splits, path)
    announce(f"splits: created {path} ({len(splits):,} admissions, seed {seed})")
    return splits


def attach_splits(frame: pd.DataFrame, splits: pd.DataFrame, source: str = "events") -> pd.Series:
    """Split of each row's admission; an admission missing from the splits is an error, not a silent drop."""
    lookup = pd.Series(splits["split"].astype(str).to_numpy(), index=splits["hadm_id"].to_numpy())
    split = frame["hadm_id"].map(lookup)
    if split.isna().any():
        missing = pd.unique(frame.loc[split.isna(), "hadm_id"])
        raise ValueError(
            f"{source}: {len(missing)} admission(s) have no split (e.g. hadm_id {missing[:3].tolist()}); "
            "regenerate splits.parquet for this event table or pass splits=PATH"
        )
    return split.astype(pd.CategoricalDtype(list(SPLITS)))


def write_splits_for_file(input, output=None, split_ratios=(0.8, 0.1, 0.1), seed: int = 0, time_policy: str = "drop"):
    """Stage ``splits``: decide the splits of an event table once and persist them (beside it by default)."""
    output = output or Path(input).with_name("splits.parquet")
    refuse_overwrite([input], [output])
    events = read_event_table(input, time_policy=time_policy)
    path = write_splits(make_splits(events, split_ratios, seed), output)
    announce(f"splits: {events['hadm_id'].nunique():,} admissions → {path}")
    return path
