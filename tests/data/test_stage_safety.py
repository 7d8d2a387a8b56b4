"""Stages never destroy their inputs or leave partial outputs; header-only inputs are clear errors, not IndexErrors."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from cts.data.event_table import EventTableError
from cts.data.normalize import normalize_file
from cts.data.splits import write_splits_for_file
from cts.data.task_dataset import run_build
from cts.io import OverwriteError
from cts.reports.card import write_stats
from cts.tasks.nextevent.build import build_sequences
from cts.tasks.relation.build import build_relation_pairs

ROOT = Path(__file__).resolve().parents[2]
CSV = "Hadm_id,Event,Time\n1,fever,-24\n1,cough,3\n2,rash,5\n2,pain,7\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.e2e
def test_normalize_in_place_is_refused_from_the_command_line_and_the_input_is_unchanged(tmp_path):
    source = tmp_path / "x.csv"
    source.write_text(CSV)
    before = digest(source)
    run = subprocess.run([sys.executable, str(ROOT / "preprocess.py"), "stage=normalize", f"input={source}",
                          f"output={source}", f"paths.log_dir={tmp_path}/logs"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and f"would overwrite the input {source}" in run.stdout + run.stderr
    assert digest(source) == before


@pytest.mark.parametrize("stage", ["normalize", "splits", "build", "stats"])
def test_every_stage_refuses_an_output_that_is_its_input(tmp_path, stage):
    data = tmp_path / "D"
    data.mkdir()
    source = data / {"normalize": "e.parquet", "splits": "e.parquet", "build": "train.parquet",
                     "stats": "stats.json"}[stage]
    source.write_text(CSV)  # the content does not matter: the refusal comes before reading
    before = digest(source)
    run = {"normalize": lambda: normalize_file(source, source),
           "splits": lambda: write_splits_for_file(source, source),
           "build": lambda: run_build("relation", build_relation_pairs, source, data),  # writes D/train.parquet
           "stats": lambda: write_stats(source, data)}[stage]  # writes D/stats.json
    with pytest.raises(OverwriteError, match=f"would overwrite the input {source}"):
        run()
    assert digest(source) == before and sorted(p.name for p in data.iterdir()) == [source.name]


WRITER = """
import sys, numpy as np, pandas as pd
from cts.data.event_table import write_event_table
n = 3_000_000
frame = pd.DataFrame({"hadm_id": np.repeat(np.arange(n // 10, dtype=np.int64), 10),
                      "event": pd.Categorical(np.array(["fever, high", "cough"])[np.arange(n) % 2]),
                      "time": np.arange(n, dtype=np.float64)})
print("ready", flush=True)
write_event_table(frame, sys.argv[1])
"""


def test_kill_9_during_a_csv_write_never_leaves_a_partial_file(tmp_path):
    final = tmp_path / "events.csv"
    final.write_text(CSV)  # a previous complete output: it must survive whole, or be replaced whole
    before = digest(final)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(final)], stdout=subprocess.PIPE, env=env)
    assert writer.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the writer is mid-file: bytes written, not finished
        temps = [p for p in tmp_path.iterdir() if p.name != final.name]
        if temps and temps[0].stat().st_size > 1 << 20:
            break
        time.sleep(0.005)
    else:
        writer.kill()
        pytest.fail("the writer never started writing")
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert digest(final) == before  # the final path still holds the last complete file, never a cut one
    leftovers = [p.name for p in tmp_path.iterdir() if p != final]
    assert all(name.startswith(".events.csv.") and name.endswith(".tmp") for name in leftovers)


@pytest.mark.parametrize("stage", ["stats", "nextevent"])
def test_header_only_csv_is_a_clear_error_in_stats_and_nextevent_build(tmp_path, stage):
    source = tmp_path / "e.csv"
    source.write_text("Hadm_id,Event,Time\n")
    run = {"stats": lambda: write_stats(source, tmp_path / "card"),
           "nextevent": lambda: run_build("nextevent", partial(build_sequences), source, tmp_path / "tasks")}[stage]
    with pytest.raises(EventTableError, match=r"e\.csv, line 2: no data rows \(header only\)"):
        run()
