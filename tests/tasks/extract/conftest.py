"""Fixture for the task=extract tests: a small demo corpus and its extract dataset, built once per session."""

import functools

import pytest

from cts.tasks.extract.build import build_extract_notes


@pytest.fixture(scope="session")
def extract_data(tmp_path_factory):
    """A 40-admission demo corpus and its extract dataset (one row per note with the admission's events)."""
    from cts.data.demo import generate_demo
    from cts.data.task_dataset import run_build

    root = tmp_path_factory.mktemp("extract_data")
    generate_demo(root, n_admissions=40, seed=3)
    run_build("extract", functools.partial(build_extract_notes, notes=root / "notes.csv.gz"),
              root / "events_normalized.parquet", root / "tasks" / "extract", seed=0)
    return root
