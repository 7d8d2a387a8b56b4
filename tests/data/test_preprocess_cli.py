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


def test_demo_stage_writes_the_corpus(demo):
    assert {"notes.csv.gz", "events.parquet", "clinical_event_timestamp.csv", "splits.parquet"} <= {
        p.name for p in (demo / "demo").iterdir()}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_normalize_stage(demo, suffix):
    out = demo / f"normalized.{suffix}"
    run = preprocess("stage=normalize", f"input={demo}/demo/clinical_event_timestamp.csv", f"output={out}", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert "time_expression" in (run.stdout + run.stderr)
    expected, _ = normalize_events(read_event_table(demo / "demo" / "clinical_event_timestamp.csv"))
    written = read_event_table(out)
    assert written["hadm_id"].tolist() == expected["hadm_id"].tolist()
    assert written["event"].astype(str).tolist() == expected["event"].astype(str).tolist()
    assert written["time"].tolist() == expected["time"].tolist()


@pytest.mark.parametrize("task", ["relation", "nextevent", "forecast"])
def test_build_stage_on_the_released_csv(demo, task):
    run = preprocess("stage=build", f"task={task}", f"input={demo}/demo/clinical_event_timestamp.csv",
                     f"output={demo}/tasks/{task}", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    meta = json.loads((demo / "tasks" / task / "meta.json").read_text())
    assert meta["task"] == task and all(meta["rows"][s] > 0 for s in ("train", "val", "test"))


def test_export_meds_and_stats_stages(demo):
    run = preprocess("stage=export_meds", f"input={demo}/demo/events.parquet", f"output={demo}/meds", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert (demo / "meds" / "metadata" / "subject_splits.parquet").exists()
    run = preprocess("stage=stats", f"input={demo}/demo/events.parquet", f"output={demo}/card", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert (demo / "card" / "card.md").read_text().startswith("# Dataset card")


def test_bad_input_is_one_clear_line(demo):
    bad = demo / "bad.csv"
    bad.write_text("Hadm_id,Event\n1,fever\n")
    run = preprocess("stage=normalize", f"input={bad}", f"output={demo}/x.parquet", tmp_path=demo)
    assert run.returncode != 0
    assert "bad.csv, line 1, column 'Time': missing required column" in run.stderr
    assert "Traceback" not in run.stderr


def test_splits_stage(demo):
    run = preprocess("stage=splits", f"input={demo}/demo/events.parquet", f"output={demo}/s.parquet", tmp_path=demo)
    assert run.returncode == 0, run.stderr
    assert set(pd.read_parquet(demo / "s.parquet")["split"]) == {"train", "val", "test"}
