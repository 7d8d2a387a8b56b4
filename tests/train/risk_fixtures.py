"""Risk tests: a small demo corpus with its admissions, labels and the risk task dataset, built once per session."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def risk_demo(tmp_path_factory) -> Path:
    from cts.data.demo import generate_demo
    from cts.tasks.common import run_build
    from cts.tasks.risk.build import build_risk_sequences

    root = tmp_path_factory.mktemp("risk_demo")
    generate_demo(root, n_admissions=60, seed=5)
    run_build("risk", build_risk_sequences, root / "events_normalized.parquet", root / "tasks" / "risk", seed=5)
    return root
