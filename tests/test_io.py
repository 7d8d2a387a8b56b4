"""The one atomic writer: complete file or nothing at the final path; in-place refusal."""

import os
import signal
import subprocess
import sys

import pytest

from cts.io import OverwriteError, atomic_dir, atomic_open, refuse_overwrite, write_json, write_text


def test_failed_write_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("a,b\n")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_version(tmp_path):
    target = write_text(tmp_path / "summary.json", "old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("new")
        raise RuntimeError
    assert target.read_text() == "old\n"


def test_kill_9_mid_write_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "big.csv"
    code = ("import sys, time; from cts.io import atomic_open\n"
            "with atomic_open(sys.argv[1]) as h:\n"
            "    h.write('x' * 1_000_000); h.flush(); print('writing', flush=True); time.sleep(30)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not target.exists()
    assert all(p.name.startswith(".big.csv.") for p in tmp_path.iterdir())


def test_json_is_strict_with_undefined_numbers_as_null(tmp_path):
    path = write_json(tmp_path / "m.json", {"x": float("nan"), "rows": [1.5, float("-inf")], "pair": (float("inf"),)})
    assert path.read_text() == '{\n  "x": null,\n  "rows": [\n    1.5,\n    null\n  ],\n  "pair": [\n    null\n  ]\n}\n'


def test_atomic_dir_swaps_whole_folders(tmp_path):
    target = tmp_path / "tok"
    with atomic_dir(target) as temp:
        (temp / "a.json").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as temp:
        (temp / "a.json").write_text("2")
        raise RuntimeError
    assert (target / "a.json").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]


def test_refuse_overwrite_names_both_paths(tmp_path):
    source = tmp_path / "x.csv"
    with pytest.raises(OverwriteError, match="x.csv.*x.csv"):
        refuse_overwrite([source], [tmp_path / "." / "x.csv"])
    with pytest.raises(OverwriteError):  # output folder that holds the input
        refuse_overwrite([tmp_path / "D" / "train.parquet"], [tmp_path / "D"])
    refuse_overwrite([source], [tmp_path / "y.csv"])
