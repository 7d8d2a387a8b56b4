"""Fixture for the task=risk tests: a demo corpus with its admissions, outcome labels and the risk task dataset,
built once per session."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def risk_demo(tmp_path_factory) -> Path:
    """A 60-admission demo corpus with its admissions, outcome labels and the risk task dataset (task=risk tests)."""
    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build
    from cts.tasks.risk.build import build_risk_sequences

    root = tmp_path_factory.mktemp("risk_demo")
    generate_demo(root, n_admissions=60, seed=5)
    run_build("risk", build_risk_sequences, root / "events_normalized.parquet", root / "tasks" / "risk", seed=5)
    return root
