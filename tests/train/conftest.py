"""Fixture for train.py tests: tiny task datasets built once per session from a small demo corpus."""

import functools
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    """``<dir>/tasks/<task>/{train,val,test}.parquet`` for every task, from a 48-admission demo corpus."""
    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build
    from cts.tasks.forecast.build import build_forecast_windows
    from cts.tasks.nextevent.build import build_sequences
    from cts.tasks.relation.build import build_relation_pairs

    root = tmp_path_factory.mktemp("train_data")
    generate_demo(root, n_admissions=48, seed=3)
    builders = {"relation": functools.partial(build_relation_pairs, seed=0),
                "nextevent": functools.partial(build_sequences, time_format="raw"),
                "forecast": functools.partial(build_forecast_windows, max_per_admission=3, seed=0)}
    for task, builder in builders.items():
        run_build(task, builder, root / "events_normalized.parquet", root / "tasks" / task,
                  splits=root / "splits.parquet", seed=0)
    return root


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
