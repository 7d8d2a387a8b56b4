"""Every preprocess.py stage from the command line, as a user types it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cts.data.event_table import read_event_table
from cts.data.normalize import normalize_events

ROOT = Path(__file__).resolve().parents[2]


def preprocess(*overrides, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, str(ROOT / "preprocess.py"), *overrides, f"paths.log_dir={tmp_path}/logs"]
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    run = preprocess("stage=demo", f"output={tmp}/demo", "stage.n_admissions=60", tmp_path=tmp)
    assert run.returncode == 0, run.stderr
    return tmp


@pytest.mark.e2e
def test_demo_stage_writes_the_corpus(demo):
    assert {"notes.csv.gz", "events.parquet", "clinical_event_timestamp.csv", "splits.parquet"} <= {
        p.name for p in (demo / "demo").iterdir()}


@pytest.mark.e2e
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_normalize_stage(demo, suffix):
    out = demo / f"normalized.{suffix}"
    run = preprocess("stage=normalize", f"input={demo}/demo/clinical_event_timestamp.csv", f"output={out}",
                     tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert "time_expression" in (run.stdout + run.stderr)
    expected, _ = normalize_events(read_event_table(demo / "demo" / "clinical_event_timestamp.csv"))
    written = read_event_table(out)
    assert written["hadm_id"].tolist() == expected["hadm_id"].tolist()
    assert written["event"].astype(str).tolist() == expected["event"].astype(str).tolist()
    assert written["time"].tolist() == expected["time"].tolist()


@pytest.mark.e2e
@pytest.mark.parametrize("task", ["relation", "nextevent", "forecast"])
def test_build_stage_on_the_released_csv(demo, task):
    run = preprocess("stage=build", f"task={task}", f"input={demo}/demo/clinical_event_timestamp.csv",
                     f"output={demo}/tasks/{task}", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    meta = json.loads((demo / "tasks" / task / "meta.json").read_text())
    assert meta["task"] == task and all(meta["rows"][s] > 0 for s in ("train", "val", "test"))


@pytest.mark.e2e
def test_export_meds_and_stats_stages(demo):
    run = preprocess("stage=export_meds", f"input={demo}/demo/events.parquet", f"output={demo}/meds", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert (demo / "meds" / "metadata" / "subject_splits.parquet").exists()
    run = preprocess("stage=stats", f"input={demo}/demo/events.parquet", f"output={demo}/card", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert (demo / "card" / "card.md").read_text().startswith("# Dataset card")


@pytest.mark.e2e
def test_bad_input_is_one_clear_line(demo):
    bad = demo / "bad.csv"
    bad.write_text("Hadm_id,Event\n1,fever\n")
    run = preprocess("stage=normalize", f"input={bad}", f"output={demo}/x.parquet", tmp_path=demo)
    assert run.returncode != 0
    assert "bad.csv, line 1, column 'Time': missing required column" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.e2e
def test_splits_stage(demo):
    run = preprocess("stage=splits", f"input={demo}/demo/events.parquet", f"output={demo}/s.parquet", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert set(pd.read_parquet(demo / "s.parquet")["split"]) == {"train", "val", "test"}


def _patients_fixture(folder):
    """40 hand-made patients with 3 admissions each (hadm_id = 1000·patient + k), one event per admission."""
    folder.mkdir(exist_ok=True)
    patients = [p for p in range(1, 41) for _ in range(3)]
    hadm = [1000 * p + k for p in range(1, 41) for k in range(3)]
    pd.DataFrame({"Hadm_id": hadm, "Event": ["fever"] * len(hadm), "Time": [0.0] * len(hadm)}).to_csv(
        folder / "events.csv", index=False)
    pd.DataFrame({"subject_id": patients, "hadm_id": hadm, "admittime": ["2150-01-01 00:00:00"] * len(hadm)}).to_csv(
        folder / "admissions.csv.gz", index=False)
    return folder / "events.csv", folder / "admissions.csv.gz"


@pytest.mark.e2e
def test_splits_by_patient_keep_a_patients_admissions_together(tmp_path):
    events, admissions = _patients_fixture(tmp_path / "p")
    run = preprocess("stage=splits", f"input={events}", f"admissions={admissions}",
                     f"output={tmp_path}/by_patient.parquet", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "120 admissions of 40 patients, split by subject" in run.stdout + run.stderr
    splits = pd.read_parquet(tmp_path / "by_patient.parquet")
    assert len(splits) == 120 and (splits["subject_id"] == splits["hadm_id"] // 1000).all()
    assert splits.groupby("subject_id")["split"].nunique().max() == 1
    assert set(splits["split"]) == {"train", "val", "test"}

    run = preprocess("stage=splits", f"input={events}", f"output={tmp_path}/by_admission.parquet", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).count("splits are by admission") == 1  # said, once
    torn = pd.read_parquet(tmp_path / "by_admission.parquet").assign(patient=lambda f: f["hadm_id"] // 1000)
    assert torn.groupby("patient")["split"].nunique().max() > 1  # what the admissions file prevents


@pytest.mark.e2e
def test_build_on_admission_level_splits_says_so_once(tmp_path):
    events, _ = _patients_fixture(tmp_path / "p")
    run = preprocess("stage=build", "task=nextevent", f"input={events}", f"output={tmp_path}/nextevent",
                     tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).count("splits are by admission") == 1
    assert json.loads((tmp_path / "nextevent" / "meta.json").read_text())["split_by"] == "admission"


@pytest.mark.e2e
@pytest.mark.parametrize("content,message", [
    ("subject_id,hadm_id\n7,100\n7,1.5e3\n", "line 3, column 'hadm_id': not a non-negative integer id"),
    ("subject_id,hadm_id\n7,100\n-5,101\n", "line 3, column 'subject_id': not a non-negative integer id"),
    ("subject_id,hadm_id\n7,100\n8,100\n", "line 3, column 'hadm_id': an admission listed twice"),
    ("subject_id,hadm\n7,100\n", "line 1: missing column"),
    ("subject_id,hadm_id\n7,100000000000000000000\n", "an id beyond the 64-bit range"),
])
def test_bad_admissions_file_is_one_clear_line(tmp_path, content, message):
    events, _ = _patients_fixture(tmp_path / "p")
    bad = tmp_path / "admissions.csv"
    bad.write_text(content)
    run = preprocess("stage=splits", f"input={events}", f"admissions={bad}", f"output={tmp_path}/s.parquet",
                     tmp_path=tmp_path)
    assert run.returncode == 1 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_admission_ids_beyond_double_precision_stay_exact(tmp_path):
    from cts.data.admissions import read_admissions

    (tmp_path / "a.csv").write_text("subject_id,hadm_id\n9007199254740993,9007199254740993\n1,9007199254740992\n")
    frame = read_admissions(tmp_path / "a.csv")
    assert frame["hadm_id"].tolist() == [9007199254740993, 9007199254740992]
    assert frame["subject_id"].tolist() == [9007199254740993, 1]


@pytest.mark.e2e
@pytest.mark.parametrize(("script", "stage"), [("preprocess.py", "stats"), ("annotate.py", "summary")])
def test_a_log_dir_that_is_a_file_is_one_line_naming_the_key(tmp_path, script, stage):
    a_file = tmp_path / "logs"
    a_file.write_text("not a folder")
    command = [sys.executable, str(ROOT / script), f"stage={stage}", f"paths.log_dir={a_file}"]
    run = subprocess.run(command, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"error: paths.log_dir={a_file}: a file, not a folder; every run writes its folder "
                                  "under it: choose a writable folder with paths.log_dir=DIR")
    assert a_file.read_text() == "not a folder"
