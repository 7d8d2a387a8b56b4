"""cts.config: the repository root found from the package (CTS_ROOT only as an override), so every command writes to
the same places from any working directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cts.config import repository_root
from cts.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_the_root_is_the_checkout_the_package_is_imported_from(monkeypatch, tmp_path):
    monkeypatch.delenv("CTS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert repository_root() == ROOT
    monkeypatch.setenv("CTS_ROOT", str(tmp_path))
    assert repository_root() == tmp_path.resolve()


def test_a_package_outside_a_checkout_asks_for_cts_root(monkeypatch, tmp_path):
    import cts.config

    monkeypatch.delenv("CTS_ROOT", raising=False)
    monkeypatch.setattr(cts.config, "__file__", str(tmp_path / "site-packages" / "cts" / "config.py"))
    with pytest.raises(UserError, match="set CTS_ROOT to the repository folder"):
        repository_root()


def test_an_entry_point_run_from_another_directory_writes_under_the_repository(demo_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = ROOT / "logs" / "preprocess" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    env = {key: value for key, value in os.environ.items() if key != "CTS_ROOT"}
    card = tmp_path / "card"
    done = subprocess.run([sys.executable, str(ROOT / "preprocess.py"), "stage=stats",
                           f"input={demo_dir / 'events_normalized.parquet'}", f"output={card}"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ours = [run for run in set(runs.iterdir()) - before if str(card) in (run / ".hydra" / "overrides.yaml").read_text()]
    try:
        assert len(ours) == 1 and (ours[0] / "preprocess.log").is_file()  # the run's log, under <root>/logs
        assert list(elsewhere.iterdir()) == [] and (card / "stats.json").is_file()
    finally:
        for run in ours:
            shutil.rmtree(run)
