"""MIMIC-IV ``hosp/admissions.csv(.gz)``: which patient each admission belongs to and when it began.

Read streamed, only the columns asked for; ids parsed as integers from their text (never through floats), so
patient-level splits and MEDS anchors see exactly the ids the file holds. A bad row is an error naming the file,
the line and the column (never the row's content).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ID_COLUMNS = ("hadm_id", "subject_id")
_INT64_TEXT = r"^\s*\+?[0-9]+\s*$"  # non-negative digits; the 64-bit range is checked by the cast


class AdmissionsError(ValueError):
    """Bad admissions input; the message names the file, the line and the column."""


def read_admissions(path: str | Path, columns: tuple[str, ...] = ID_COLUMNS, block_size: int = 1 << 24) -> pd.DataFrame:
    """``hadm_id, subject_id`` (int64) and any other asked column (``admittime`` as a timestamp), one row per
    admission; streamed in blocks so the 500 MB file never sits in memory as text."""
    path = Path(path)
    if not path.is_file():
        raise AdmissionsError(f"{path}: no such file; give admissions=PATH/TO/hosp/admissions.csv.gz (MIMIC-IV)")
    wanted = list(dict.fromkeys([*ID_COLUMNS, *columns]))
    header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
    missing = [c for c in wanted if c not in header]
    if missing:
        raise AdmissionsError(f"{path}, line 1: missing column(s) {missing} (has {header}); expected MIMIC-IV's "
                              "hosp/admissions.csv.gz")
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=block_size),
                            convert_options=pacsv.ConvertOptions(include_columns=wanted,
                                                                 column_types={c: pa.string() for c in wanted}))
    parts, line = [], 2  # line 1 is the header
    for batch in reader:
        parts.append(_parse_batch(batch, path, line))
        line += batch.num_rows
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in wanted})
    duplicated = frame["hadm_id"].duplicated()
    if duplicated.any():
        raise AdmissionsError(f"{path}, line {int(np.flatnonzero(duplicated)[0]) + 2}, column 'hadm_id': "
                              "an admission listed twice")
    return frame.astype({"hadm_id": "int64", "subject_id": "int64"})


def _parse_batch(batch: pa.RecordBatch, path: Path, first_line: int) -> pd.DataFrame:
    out = {}
    for name in batch.schema.names:
        column = batch.column(name)
        if name in ID_COLUMNS:
            valid = pc.match_substring_regex(pc.fill_null(column, ""), _INT64_TEXT)
            if not pc.all(valid).as_py():
                row = int(np.flatnonzero(~valid.to_numpy(zero_copy_only=False))[0])
                raise AdmissionsError(f"{path}, line {first_line + row}, column {name!r}: not a non-negative integer id")
            try:
                out[name] = pc.cast(pc.utf8_trim_whitespace(column), pa.int64()).to_numpy()
            except pa.ArrowInvalid:
                raise AdmissionsError(f"{path}, column {name!r}: an id beyond the 64-bit range "
                                      f"(lines {first_line}–{first_line + batch.num_rows - 1})") from None
        elif name.endswith("time"):
            try:
                out[name] = pd.to_datetime(column.to_numpy(zero_copy_only=False), format="%Y-%m-%d %H:%M:%S")
            except (ValueError, TypeError):
                raise AdmissionsError(f"{path}, column {name!r}: expected times as YYYY-MM-DD HH:MM:SS "
                                      f"(lines {first_line}–{first_line + batch.num_rows - 1})") from None
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    return pd.DataFrame(out)


def subjects_of(hadm_ids: np.ndarray, admissions: pd.DataFrame, source: str) -> np.ndarray:
    """``subject_id`` of each admission; one absent from the admissions file is an error (never a silent guess)."""
    lookup = pd.Series(admissions["subject_id"].to_numpy(), index=admissions["hadm_id"].to_numpy())
    subjects = pd.Series(hadm_ids).map(lookup)
    if subjects.isna().any():
        missing = pd.unique(pd.Series(hadm_ids)[subjects.isna().to_numpy()])
        raise AdmissionsError(f"{source}: {len(missing)} admission(s) not in the admissions file "
                              f"(e.g. hadm_id {missing[:3].tolist()}); is it the same MIMIC-IV release?")
    return subjects.to_numpy(dtype=np.int64)
