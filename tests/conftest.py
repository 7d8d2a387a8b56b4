"""Shared test setup: offline, repository root on the path, small demo corpora generated once per session (one
with the three task datasets for the data and report tests, one for the training tests), and ``offline``: any
network connection fails the test (the figure and page tests)."""

import functools
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo corpus (80 admissions) with all three task datasets built, shared by the whole session."""
    from functools import partial

    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build
    from cts.tasks.forecast.build import build_forecast_windows
    from cts.tasks.nextevent.build import build_sequences
    from cts.tasks.relation.build import build_relation_pairs

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, n_admissions=80, seed=7)
    events = out / "events_normalized.parquet"
    builders = {"relation": partial(build_relation_pairs, seed=7), "nextevent": partial(build_sequences),
                "forecast": partial(build_forecast_windows, seed=7)}
    for task, builder in builders.items():
        run_build(task, builder, events, out / "tasks" / task)
    return out


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


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network connection attempted while rendering: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
