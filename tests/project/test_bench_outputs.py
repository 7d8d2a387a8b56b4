"""A benchmark run writes under the repository root's logs/bench/, never into git's files or the working directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


IN_CHECKOUT = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip() == "true"


@pytest.mark.skipif(not IN_CHECKOUT, reason="not in a git checkout: no status to keep")
def test_a_bench_run_leaves_git_status_as_it_was(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = _git_status()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "normalize.py"), "2000", "--baseline-rows", "2000",
                           "--pairs-baseline-rows", "500"], cwd=elsewhere, env={**os.environ, "CTS_ROOT": str(root)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _git_status() == before
    assert list(elsewhere.iterdir()) == [] and (root / "logs" / "bench" / "normalize.json").is_file()
