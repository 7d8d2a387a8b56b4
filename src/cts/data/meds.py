"""Export the event table in the MEDS layout, so 22MCTS-style data works with MEDS tools (meds-torch, …).

MEDS wants absolute times; 22MCTS has hours relative to admission. With MIMIC-IV's ``admissions.csv.gz``
(``admissions=PATH``) each event is placed at ``admittime + hours`` and the subject is the patient
(``subject_id``), so a patient's admissions lie on one real timeline. Without it no real admission time is known:
each admission is its own MEDS subject (``subject_id = hadm_id``) anchored at a fixed, documented epoch
(``anchor``), so ``time - anchor`` gives back the relative hours exactly — stacking several admissions of a patient
on one made-up date would invent an order. Splits map train/val/test → train/tuning/held_out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cts import __version__
from cts.data.admissions import read_admissions
from cts.data.event_table import read_event_table
from cts.data.splits import attach_splits, splits_for
from cts.io import atomic_path, output_set, refuse_overwrite, write_json
from cts.utils import announce

MEDS_SPLITS = {"train": "train", "val": "tuning", "test": "held_out"}
MEDS_VERSION = "0.4.1"  # the `meds` package whose schemas the tests validate the output with
DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
                         ("numeric_value", pa.float32()), ("hadm_id", pa.int64())])
SUBJECT_SPLITS_SCHEMA = pa.schema([pa.field("subject_id", pa.int64(), nullable=False),
                                   pa.field("split", pa.string(), nullable=False)])
CODES_SCHEMA = pa.schema([("code", pa.string()), ("description", pa.string()), ("parent_codes", pa.list_(pa.string()))])
_US_PER_HOUR = 3_600_000_000


class MedsExportError(ValueError):
    """The export cannot be made consistent (e.g. admission-level splits with patient-level subjects)."""


def export_meds(input: str | Path, output: str | Path, splits=None, anchor: str = "2000-01-01", seed: int = 0,
                code_prefix: str = "EVENT//", shard_size: int = 1_000_000, time_policy: str = "drop",
                admissions: str | Path | None = None) -> dict:
    """Write ``data/<split>/<n>.parquet``, ``metadata/subject_splits.parquet``, ``metadata/codes.parquet`` and
    ``metadata/dataset.json``; returns the number of events per MEDS split."""
    output = Path(output)
    refuse_overwrite([input, admissions, splits], [output])
    events = read_event_table(input, time_policy=time_policy)
    split_of_row = attach_splits(events, splits_for(events, input, splits, seed=seed), source=str(input))
    hadm = events["hadm_id"].to_numpy(dtype=np.int64)
    offset = (events["time"].to_numpy(dtype=np.float64) * _US_PER_HOUR).round().astype("timedelta64[us]")
    if admissions is None:
        subject, start = hadm, np.full(len(hadm), np.datetime64(anchor, "us"))
    else:
        subject, start = _patients_and_admit_times(hadm, admissions, str(input))
    frame = pd.DataFrame({"subject_id": subject, "time": start + offset,
                          "code": code_prefix + events["event"].astype(str).to_numpy(dtype=object),
                          "numeric_value": np.full(len(hadm), np.nan, dtype=np.float32), "hadm_id": hadm,
                          "split": split_of_row.map(MEDS_SPLITS).astype(str).to_numpy(dtype=object)})
    subject_splits = frame.drop_duplicates(["subject_id", "split"])[["subject_id", "split"]]
    torn = subject_splits["subject_id"].duplicated()
    if torn.any():
        raise MedsExportError(
            f"{input}: {int(torn.sum())} patient(s) have admissions in different splits (e.g. subject_id "
            f"{subject_splits.loc[torn, 'subject_id'].iloc[0]}); MEDS splits by subject: decide the splits by patient "
            f"first with `python preprocess.py stage=splits input={input} admissions={admissions}`")
    frame = frame.sort_values(["subject_id", "time"], kind="stable")
    # one export replaces the previous one whole: no shard of an earlier, larger export stays in data/
    with output_set(output, replace=[output / "data"], last=["metadata/dataset.json"]) as staged:
        counts = {name: _write_split(frame[frame["split"] == name], staged / "data" / name, shard_size)
                  for name in MEDS_SPLITS.values()}
        _write_table(subject_splits.sort_values("subject_id"), SUBJECT_SPLITS_SCHEMA,
                     staged / "metadata" / "subject_splits.parquet")
        codes = pd.DataFrame({"code": np.sort(frame["code"].unique())})
        codes = codes.assign(description=codes["code"].str.slice(len(code_prefix)), parent_codes=None)
        _write_table(codes, CODES_SCHEMA, staged / "metadata" / "codes.parquet")
        write_json(staged / "metadata" / "dataset.json", {
            "dataset_name": Path(input).name.split(".")[0], "dataset_version": Path(input).name, "etl_name": "cts",
            "etl_version": __version__, "meds_version": MEDS_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "raw_source_id_columns": ["hadm_id"],
            "time_anchor": "admittime (MIMIC-IV admissions)" if admissions is not None else anchor,
            "subject": "patient (subject_id)" if admissions is not None else "admission (subject_id = hadm_id)",
            "time_unit_note": "time = admission start + hours since admission"})
    announce(f"export_meds: {len(frame):,} events of {subject_splits.shape[0]:,} subjects "
             f"({'patients, real admission times' if admissions is not None else 'one per admission, anchored at ' + anchor}) "  # noqa: E501
             f"{counts} → {output}")
    return counts


def _patients_and_admit_times(hadm: np.ndarray, path, source: str) -> tuple[np.ndarray, np.ndarray]:
    table = read_admissions(path, columns=("admittime",)).set_index("hadm_id")
    known = pd.Index(table.index).get_indexer(hadm)
    if (known < 0).any():
        missing = pd.unique(hadm[known < 0])
        raise MedsExportError(f"{source}: {len(missing)} admission(s) not in {path} (e.g. hadm_id "
                              f"{missing[:3].tolist()}); is it the same MIMIC-IV release?")
    admit = table["admittime"].to_numpy(dtype="datetime64[us]")[known]
    if np.isnat(admit).any():
        raise MedsExportError(f"{path}, column 'admittime': empty for hadm_id {hadm[np.isnat(admit)][0]}")
    return table["subject_id"].to_numpy(dtype=np.int64)[known], admit


def _write_split(part: pd.DataFrame, folder: Path, shard_size: int) -> int:
    """Shards of about ``shard_size`` rows that never cut a subject in two (MEDS: one subject, one file)."""
    subject = part["subject_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]]) if len(part) else np.array([0])
    bounds, begin = [], 0
    for start in starts[1:]:
        if start - begin >= shard_size:
            bounds.append((begin, start))
            begin = start
    bounds.append((begin, len(part)))
    for number, (begin, end) in enumerate(bounds):
        _write_table(part.iloc[begin:end], DATA_SCHEMA, folder / f"{number}.parquet")
    return len(part)


def _write_table(frame: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    with atomic_path(path, suffix=".parquet") as temp:
        pq.write_table(table, temp)
