"""Outcome labels for risk prediction: derived from MIMIC-IV ``hosp/admissions.csv.gz``, or read from a user table
or a MEDS label file, always as one row per admission.

Canonical labels (pandas): ``hadm_id:int64, label:int8`` (0/1), optionally ``subject_id:int64`` (subject-level
splits, MEDS predictions), ``admittime`` (timestamp: MEDS prediction times), ``discharge_hours`` (stay length:
a horizon of ``null`` cuts there) and ``prediction_time`` (hours since admission: a per-admission cut that
overrides the task's horizon). Bad input is an error naming the file, line and column, never the row's content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cts.data.admissions import read_admissions
from cts.data.ids import parse_ids
from cts.io import atomic_path, refuse_overwrite
from cts.utils import announce

OUTCOMES = ("mortality", "readmission30", "los7")
READMISSION_WINDOW = pd.Timedelta(days=30)
LONG_STAY = pd.Timedelta(days=7)
_NEEDS = {"mortality": ("admittime", "dischtime", "hospital_expire_flag"),
          "readmission30": ("admittime", "dischtime", "hospital_expire_flag"),
          "los7": ("admittime", "dischtime")}
_LABEL_TEXT = {"0": 0, "1": 1, "false": 0, "true": 1, "0.0": 0, "1.0": 1}
MEDS_LABEL_COLUMNS = ("subject_id", "prediction_time", "boolean_value")


class LabelsError(ValueError):
    """Bad label input; the message names the file, the line (or id) and the column."""


# -- deriving the standard outcomes -------------------------------------------------------------------------------
def derive_outcome(admissions: pd.DataFrame, outcome: str, source: str = "admissions") -> tuple[pd.DataFrame, dict]:
    """Labels of ``outcome`` for every usable admission, and the counts of what was left out.

    ``mortality``: ``hospital_expire_flag``. ``readmission30``: another admission of the same ``subject_id`` begins
    after this one's ``dischtime`` and no later than 30 days after it; in-hospital deaths are excluded (they cannot
    be readmitted). ``los7``: ``dischtime - admittime`` longer than 7 days. Admissions without the times an outcome
    needs, or discharged before they were admitted, are counted and left out.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    frame = admissions.reset_index(drop=True)
    counts = {"admissions": len(frame)}
    died = _expire_flag(frame, source) if "hospital_expire_flag" in _NEEDS[outcome] else np.zeros(len(frame), bool)
    stay = frame["dischtime"] - frame["admittime"]
    usable = stay.notna().to_numpy() & (stay >= pd.Timedelta(0)).to_numpy()
    counts["missing_or_inverted_times"] = int((~usable).sum())
    if outcome == "mortality":
        label = died
    elif outcome == "los7":
        label = (stay > LONG_STAY).to_numpy()
    else:
        label = _readmitted(frame)
        counts["in_hospital_deaths_excluded"] = int((died & usable).sum())
        usable &= ~died
    out = pd.DataFrame({"hadm_id": frame["hadm_id"].to_numpy(np.int64),
                        "subject_id": frame["subject_id"].to_numpy(np.int64),
                        "label": label.astype(np.int8), "admittime": frame["admittime"],
                        "discharge_hours": stay.dt.total_seconds().to_numpy() / 3600.0})[usable]
    counts.update(labelled=len(out), positive=int(out["label"].sum()))
    return out.reset_index(drop=True), counts


def _expire_flag(frame: pd.DataFrame, source: str) -> np.ndarray:
    text = pd.Series(frame["hospital_expire_flag"]).astype(str).str.strip()
    bad = ~text.isin(["0", "1"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabelsError(f"{source}, line {row + 2}, column 'hospital_expire_flag': expected 0 or 1")
    return (text == "1").to_numpy()


def _readmitted(frame: pd.DataFrame) -> np.ndarray:
    """Whether the patient's next admission after discharge begins within 30 days (vectorized as-of join)."""
    known = frame["dischtime"].notna() & frame["admittime"].notna()
    left = frame.loc[known, ["subject_id", "dischtime"]].reset_index().sort_values("dischtime", kind="stable")
    right = frame.loc[frame["admittime"].notna(), ["subject_id", "admittime"]].sort_values("admittime", kind="stable")
    nxt = pd.merge_asof(left, right.rename(columns={"admittime": "next_admit"}), left_on="dischtime",
                        right_on="next_admit", by="subject_id", direction="forward", allow_exact_matches=False)
    gap = (nxt["next_admit"] - nxt["dischtime"]).to_numpy()
    result = np.zeros(len(frame), dtype=bool)
    result[nxt["index"].to_numpy()] = ~pd.isna(gap) & (gap <= READMISSION_WINDOW.to_timedelta64())
    return result


def write_outcome_labels(admissions: str | Path, output: str | Path, outcome: str = "mortality") -> dict:
    """Stage ``labels``: ``hadm_id, subject_id, label, admittime, discharge_hours`` Parquet from admissions.csv.gz."""
    if output is None:
        raise LabelsError("stage=labels needs output=PATH.parquet (where the labels go)")
    if admissions is None:
        raise LabelsError("stage=labels needs admissions=PATH/TO/hosp/admissions.csv.gz (MIMIC-IV)")
    refuse_overwrite([admissions], [output])
    table = read_admissions(admissions, columns=("hadm_id", "subject_id", *_NEEDS[outcome]))
    labels, counts = derive_outcome(table, outcome, source=str(admissions))
    write_labels(labels, output)
    announce(f"labels ({outcome}): {counts['labelled']:,} admissions, {counts['positive']:,} positive; left out: "
             + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k not in ("admissions", "labelled", "positive"))
             + f" → {output}")
    return counts


def write_labels(labels: pd.DataFrame, path: str | Path) -> Path:
    with atomic_path(path, suffix=".parquet") as temp:
        pq.write_table(pa.Table.from_pandas(labels, preserve_index=False), temp)
    return Path(path)


# -- reading labels ------------------------------------------------------------------------------------------------
def read_labels(path: str | Path, meds_dir: str | Path | None = None,
                admissions: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Labels from a table (``hadm_id, label[, prediction_time, subject_id, …]``, CSV or Parquet) or a MEDS label
    file (``subject_id, prediction_time, boolean_value``; mapped to admissions through the MEDS export in
    ``meds_dir``). Identical duplicate rows are counted and dropped; conflicting duplicates are an error."""
    path = Path(path)
    if not path.is_file():
        raise LabelsError(f"{path}: no such label file")
    table = _read_table(path)
    names = set(table.column_names)
    if "hadm_id" not in names and set(MEDS_LABEL_COLUMNS) <= names:
        frame = _meds_labels(table, path, meds_dir, admissions)
    else:
        missing = [c for c in ("hadm_id", "label") if c not in names]
        if missing:
            raise LabelsError(f"{path}, line 1: missing column(s) {missing}; a label table has hadm_id, label"
                              f"[, prediction_time] (or a MEDS label file: {', '.join(MEDS_LABEL_COLUMNS)})")
        frame = pd.DataFrame({"hadm_id": _ids(table.column("hadm_id"), path, "hadm_id"),
                              "label": _binary(table.column("label"), path, "label")})
        if "subject_id" in names:
            frame["subject_id"] = _ids(table.column("subject_id"), path, "subject_id")
        for name in ("prediction_time", "discharge_hours"):
            if name in names:
                frame[name] = _hours(table.column(name), path, name)
        if "admittime" in names:
            frame["admittime"] = pd.to_datetime(table.column("admittime").to_pandas(), errors="coerce")
    return _deduplicate(frame, path)


def _read_table(path: Path) -> pa.Table:
    try:
        if path.name.lower().endswith((".csv", ".csv.gz")):
            return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={
                "hadm_id": pa.string(), "subject_id": pa.string(), "label": pa.string()}))
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise LabelsError(f"{path}: not a readable CSV or Parquet label file ({type(error).__name__})") from None


def _line(row: int) -> int:
    return row + 2  # line 1 is the header (for Parquet: the row number + 2, said the same way)


def _ids(column, path: Path, name: str) -> np.ndarray:
    """Integer ids from an integer or text column with the one id grammar (cts.data.ids); a bad one is an error."""
    if not (pa.types.is_integer(column.type) or pa.types.is_string(column.type)
            or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    values, valid = parse_ids(column)
    if not valid.all():
        raise LabelsError(f"{path}, line {_line(int(np.flatnonzero(~valid)[0]))}, column {name!r}: not a "
                          "non-negative integer id within the 64-bit range (ids are read as integers from their text)")
    return values


def _binary(column, path: Path, name: str) -> np.ndarray:
    text = pd.Series(pc.cast(column, pa.string()).to_pandas()).str.strip().str.lower()
    value = text.map(_LABEL_TEXT)
    if value.isna().any():
        raise LabelsError(f"{path}, line {_line(int(np.flatnonzero(value.isna().to_numpy())[0]))}, column "
                          f"{name!r}: labels must be binary (0/1 or true/false)")
    return value.to_numpy(np.int8)


def _hours(column, path: Path, name: str) -> np.ndarray:
    values = pd.to_numeric(pd.Series(column.to_pandas()), errors="coerce").to_numpy(np.float64)
    given = pd.Series(column.to_pandas()).notna().to_numpy()
    bad = given & ~np.isfinite(values)
    if bad.any():
        raise LabelsError(f"{path}, line {_line(int(np.flatnonzero(bad)[0]))}, column {name!r}: "
                          "expected hours since admission (a finite number)")
    return values


def _deduplicate(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, dict]:
    repeated = frame["hadm_id"].duplicated(keep=False)
    conflicting = frame[repeated].groupby("hadm_id")["label"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        rows = np.flatnonzero((frame["hadm_id"] == conflicting.index[0]).to_numpy())
        raise LabelsError(f"{path}, lines {', '.join(str(_line(r)) for r in rows[:3])}, column 'label': hadm_id "
                          f"{conflicting.index[0]} has conflicting labels ({len(conflicting)} such admissions)")
    deduplicated = frame.drop_duplicates("hadm_id").reset_index(drop=True)
    return deduplicated, {"label_rows": len(frame), "duplicate_rows_dropped": len(frame) - len(deduplicated)}


def _meds_labels(table: pa.Table, path: Path, meds_dir, admissions) -> pd.DataFrame:
    """MEDS labels → admissions. Per-admission MEDS subjects (``subject_id = hadm_id``, one anchor) map directly;
    patient subjects map to the patient's latest admission begun by the prediction time (needs admittime)."""
    if meds_dir is None:
        raise LabelsError(f"{path}: a MEDS label file needs the MEDS export it refers to (task.meds_dir=DIR, as "
                          f"written by `python preprocess.py stage=export_meds`)")
    meds_dir = Path(meds_dir)
    shards = sorted((meds_dir / "data").rglob("*.parquet"))
    if not shards:
        raise LabelsError(f"{meds_dir}/data: no MEDS data shards")
    pairs = pd.concat([pd.read_parquet(s, columns=["subject_id", "hadm_id"]) for s in shards]).drop_duplicates()
    subject = _ids(table.column("subject_id"), path, "subject_id")
    when = pd.Series(pd.to_datetime(table.column("prediction_time").to_pandas()), name="prediction_time")
    labels = pd.DataFrame({"subject_id": subject, "prediction_time": when,
                           "label": _binary(table.column("boolean_value"), path, "boolean_value")})
    if (pairs["subject_id"] == pairs["hadm_id"]).all():  # one MEDS subject per admission, at a fixed anchor
        anchor = pd.Timestamp(json.loads((meds_dir / "metadata" / "dataset.json").read_text())["time_anchor"])
        hadm = labels["subject_id"].to_numpy()
        admit = pd.Series(anchor, index=labels.index)
    else:
        if admissions is None:
            raise LabelsError(f"{path}: the MEDS export in {meds_dir} has patients as subjects; give "
                              "task.admissions=PATH/TO/hosp/admissions.csv.gz to place labels in admissions")
        starts = read_admissions(admissions, columns=("admittime",))
        starts = starts[starts["hadm_id"].isin(pairs["hadm_id"])].sort_values("admittime")
        order = labels.reset_index().sort_values("prediction_time", kind="stable")
        matched = pd.merge_asof(order, starts, left_on="prediction_time", right_on="admittime", by="subject_id",
                                direction="backward").sort_values("index")
        if matched["hadm_id"].isna().any():
            row = int(matched.loc[matched["hadm_id"].isna(), "index"].iloc[0])
            raise LabelsError(f"{path}, line {_line(row)}: no admission of this subject begins by its prediction_time")
        hadm, admit = matched["hadm_id"].to_numpy(np.int64), matched["admittime"].reset_index(drop=True)
    hours = (labels["prediction_time"] - admit).dt.total_seconds().to_numpy() / 3600.0
    return pd.DataFrame({"hadm_id": np.asarray(hadm, np.int64), "label": labels["label"].to_numpy(np.int8),
                         "subject_id": labels["subject_id"].to_numpy(np.int64), "prediction_time": hours,
                         "admittime": admit.to_numpy()})
