"""Outcome labels: derivation from a hand-made MIMIC-IV admissions file, the stage, and bad label input."""

import gzip

import numpy as np
import pandas as pd
import pytest

from cts.data.admissions import read_admissions
from cts.data.labels import (
    LabelsError,
    derive_outcome,
    read_labels,
    write_outcome_labels,
)

HEADER = "subject_id,hadm_id,admittime,dischtime,deathtime,hospital_expire_flag\n"
# subject 1: discharged 01-10 12:00; readmitted exactly 30 days later (edge: counts), then 30 days + 1 min (does not)
# subject 2: an in-hospital death (excluded from readmission), after an earlier stay 45 days before
# subject 3: a stay of exactly 7 days (not > 7) and one of 7 days + 1 minute
ROWS = """1,101,2150-01-01 12:00:00,2150-01-10 12:00:00,,0
1,102,2150-02-09 12:00:00,2150-02-12 12:00:00,,0
1,103,2150-03-14 12:01:00,2150-03-20 12:00:00,,0
2,201,2151-01-01 00:00:00,2151-01-05 00:00:00,,0
2,202,2151-02-19 00:00:00,2151-02-22 00:00:00,2151-02-22 00:00:00,1
3,301,2152-01-01 00:00:00,2152-01-08 00:00:00,,0
3,302,2153-01-01 00:00:00,2153-01-08 00:01:00,,0
"""


@pytest.fixture
def admissions_file(tmp_path):
    path = tmp_path / "admissions.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + ROWS)
    return path


def _labels(path, outcome):
    table = read_admissions(path, columns=("admittime", "dischtime", "hospital_expire_flag"))
    labels, counts = derive_outcome(table, outcome, source=str(path))
    return dict(zip(labels["hadm_id"], labels["label"])), counts


def test_readmission_window_edges_and_deaths_excluded(admissions_file):
    labels, counts = _labels(admissions_file, "readmission30")
    # 101 → 102 starts 30 days after discharge (in); 102 → 103 starts 30 days + 1 minute after (out);
    # 201 → 202 starts 45 days after (out); 202 died in hospital (excluded)
    assert labels == {101: 1, 102: 0, 103: 0, 201: 0, 301: 0, 302: 0}
    assert counts["in_hospital_deaths_excluded"] == 1 and counts["positive"] == 1


def test_mortality_and_length_of_stay(admissions_file):
    mortality, _ = _labels(admissions_file, "mortality")
    assert mortality == {101: 0, 102: 0, 103: 0, 201: 0, 202: 1, 301: 0, 302: 0}
    long_stay, _ = _labels(admissions_file, "los7")
    assert long_stay == {101: 1, 102: 0, 103: 0, 201: 0, 202: 0, 301: 0, 302: 1}


def test_stage_writes_subject_ids_and_stay_hours(admissions_file, tmp_path):
    out = tmp_path / "labels.parquet"
    counts = write_outcome_labels(admissions_file, out, "los7")
    frame = pd.read_parquet(out).set_index("hadm_id")
    assert counts["labelled"] == 7 and frame.loc[302, "subject_id"] == 3
    assert frame.loc[101, "discharge_hours"] == 9 * 24 and frame["label"].dtype == np.int8
    with pytest.raises(ValueError, match="overwrite"):
        write_outcome_labels(admissions_file, admissions_file, "los7")


def test_non_binary_expire_flag_names_line_and_column(tmp_path):
    path = tmp_path / "admissions.csv"
    path.write_text(HEADER + ROWS.replace("2150-02-12 12:00:00,,0", "2150-02-12 12:00:00,,2"))
    with pytest.raises(LabelsError, match=r"line 3, column 'hospital_expire_flag'"):
        _labels(path, "mortality")


def test_user_table_duplicates_and_bad_labels(tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("hadm_id,label,prediction_time\n9007199254740993,1,48\n9007199254740993,1,48\n5,0,\n")
    labels, counts = read_labels(good)
    assert labels["hadm_id"].tolist() == [9007199254740993, 5]  # 2^53 + 1 exactly: never through a float
    assert counts["duplicate_rows_dropped"] == 1 and np.isnan(labels["prediction_time"].iloc[1])
    conflicting = tmp_path / "conflicting.csv"
    conflicting.write_text("hadm_id,label\n7,1\n8,0\n7,0\n")
    with pytest.raises(LabelsError, match=r"lines 2, 4, column 'label': hadm_id 7 has conflicting labels"):
        read_labels(conflicting)
    non_binary = tmp_path / "non_binary.csv"
    non_binary.write_text("hadm_id,label\n7,1\n8,2\n")
    with pytest.raises(LabelsError, match=r"line 3, column 'label': labels must be binary"):
        read_labels(non_binary)
    bad_id = tmp_path / "bad_id.csv"
    bad_id.write_text("hadm_id,label\n7.5,1\n")
    with pytest.raises(LabelsError, match=r"line 2, column 'hadm_id'"):
        read_labels(bad_id)
    with pytest.raises(LabelsError, match="missing column"):
        (tmp_path / "wrong.csv").write_text("id,label\n1,0\n")
        read_labels(tmp_path / "wrong.csv")


def test_meds_label_file_maps_to_admissions(tmp_path):
    """Per-admission MEDS subjects (export without admissions): subject_id = hadm_id, times from the anchor."""
    meds = tmp_path / "meds"
    (meds / "data" / "held_out").mkdir(parents=True)
    (meds / "metadata").mkdir()
    pd.DataFrame({"subject_id": [11, 12], "hadm_id": [11, 12]}).to_parquet(meds / "data" / "held_out" / "0.parquet")
    (meds / "metadata" / "dataset.json").write_text('{"time_anchor": "2000-01-01"}')
    label_file = tmp_path / "task.parquet"
    pd.DataFrame({"subject_id": [11, 12], "prediction_time": pd.to_datetime(["2000-01-02 00:00", "2000-01-01 06:00"]),
                  "boolean_value": [True, False]}).to_parquet(label_file)
    labels, _ = read_labels(label_file, meds_dir=meds)
    assert labels["hadm_id"].tolist() == [11, 12] and labels["label"].tolist() == [1, 0]
    assert labels["prediction_time"].tolist() == [24.0, 6.0]
    with pytest.raises(LabelsError, match="meds_dir"):
        read_labels(label_file)


@pytest.mark.e2e
def test_labels_stage_from_the_command_line(admissions_file, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out" / "readmission.parquet"
    run = subprocess.run([sys.executable, str(root / "preprocess.py"), "stage=labels", f"admissions={admissions_file}",
                          f"output={out}", "outcome=readmission30", f"paths.log_dir={tmp_path}/logs"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert dict(pd.read_parquet(out)[["hadm_id", "label"]].itertuples(index=False)) == \
        {101: 1, 102: 0, 103: 0, 201: 0, 301: 0, 302: 0}
