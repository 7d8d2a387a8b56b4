"""Deterministic train/val/test splits by hashing admission (or subject) ids: independent of row order and chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cts.data.admissions import read_admissions, subjects_of
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


BY_ADMISSION_NOTE = ("splits are by admission (the event table has no subject_id): one patient's admissions can sit "
                     "in train and test; for patient-level splits run `python preprocess.py stage=splits input=EVENTS "
                     "admissions=PATH/TO/hosp/admissions.csv.gz`, then rebuild")


def split_unit(splits: pd.DataFrame) -> str:
    """``subject`` when the splits were decided by patient (they carry ``subject_id``), else ``admission``."""
    return "subject" if "subject_id" in splits.columns else "admission"


def make_splits(events: pd.DataFrame, ratios=(0.8, 0.1, 0.1), seed: int = 0) -> pd.DataFrame:
    """One row per admission; by patient when ``subject_id`` is known (no patient spans two splits; the splits then
    keep ``subject_id``, which tells later stages the unit)."""
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
        splits = read_splits(path)
    else:
        splits = make_splits(events, ratios, seed)
        write_splits(splits, path)
        announce(f"splits: created {path} ({len(splits):,} admissions by {split_unit(splits)}, seed {seed})")
    if split_unit(splits) == "admission":
        announce(f"{path}: {BY_ADMISSION_NOTE}")
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


def write_splits_for_file(input, output=None, split_ratios=(0.8, 0.1, 0.1), seed: int = 0, time_policy: str = "drop",
                          admissions=None):
    """Stage ``splits``: decide the splits of an event table once and persist them (beside it by default); by
    patient when the table has ``subject_id`` or ``admissions`` (MIMIC-IV admissions.csv.gz) supplies it."""
    output = output or Path(input).with_name("splits.parquet")
    refuse_overwrite([input, admissions], [output])
    events = read_event_table(input, time_policy=time_policy)
    if admissions is not None:
        hadm_ids = pd.unique(events["hadm_id"])
        events = pd.DataFrame({"hadm_id": hadm_ids,
                               "subject_id": subjects_of(hadm_ids, read_admissions(admissions), str(input))})
    splits = make_splits(events, split_ratios, seed)
    path = write_splits(splits, output)
    unit = split_unit(splits)
    patients = f" of {splits['subject_id'].nunique():,} patients" if unit == "subject" else ""
    announce(f"splits: {len(splits):,} admissions{patients}, split by {unit} → {path}")
    if unit == "admission":
        announce(BY_ADMISSION_NOTE)
    return path
