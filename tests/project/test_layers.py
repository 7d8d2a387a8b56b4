"""The layer contracts of pyproject.toml ``[tool.importlinter]`` hold: no import points up a layer (say
``cts.data`` importing ``cts.training``), no library module imports ``cts.reports``, and no two modules or packages of
one package import each other, directly or in a circle."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_imports_keep_the_layer_contracts(tmp_path):
    # its own process: import-linter reconfigures logging (every other logger off), and writes no cache here
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml"),
                          "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
