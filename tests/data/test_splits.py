"""Splits: deterministic from a seed, ratios respected, disjoint, by subject, independent of row order."""

import numpy as np
import pandas as pd
import pytest

from cts.data.splits import SPLITS, assign_splits, attach_splits, make_splits, read_splits, splits_for, write_splits


def test_deterministic_and_ratio():
    ids = np.arange(20_000_000, 20_050_000)
    first, second = assign_splits(ids, seed=5), assign_splits(ids, seed=5)
    assert (first == second).all()
    shares = [(first == s).mean() for s in SPLITS]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.01)
    assert (assign_splits(ids, seed=6) != first).any()
    custom = assign_splits(ids, ratios=(0.5, 0.25, 0.25), seed=5)
    assert (custom == "val").mean() == pytest.approx(0.25, abs=0.01)


def test_independent_of_row_order_and_chunking():
    rng = np.random.default_rng(0)
    events = pd.DataFrame({"hadm_id": rng.integers(1, 500, 5000), "event": "x", "time": 0.0})
    whole = make_splits(events, seed=3).set_index("hadm_id")["split"]
    shuffled = make_splits(events.sample(frac=1, random_state=1), seed=3).set_index("hadm_id")["split"]
    chunk = make_splits(events.iloc[:1000], seed=3).set_index("hadm_id")["split"]
    assert whole.equals(shuffled.loc[whole.index])
    assert (chunk == whole.loc[chunk.index]).all()


def test_by_subject_no_patient_in_two_splits():
    events = pd.DataFrame({"hadm_id": np.arange(1000), "subject_id": np.arange(1000) // 3, "event": "x", "time": 0.0})
    splits = make_splits(events, seed=1)
    assert len(splits) == 1000 and splits["split"].nunique() == 3
    assert (splits.groupby("subject_id")["split"].nunique() == 1).all()


def test_bad_ratios_and_missing_admissions(tmp_path):
    with pytest.raises(ValueError, match="sum"):
        assign_splits(np.arange(3), ratios=(0.8, 0.3, 0.1))
    splits = pd.DataFrame({"hadm_id": [1, 2], "split": pd.Categorical(["train", "test"], categories=list(SPLITS))})
    with pytest.raises(ValueError, match="1 admission.*no split.*hadm_id \\[3\\]"):
        attach_splits(pd.DataFrame({"hadm_id": [1, 3]}), splits)
    pd.DataFrame({"hadm_id": [1], "split": ["dev"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="unknown split"):
        read_splits(tmp_path / "s.parquet")


def test_persisted_once_beside_the_input(tmp_path):
    events = pd.DataFrame({"hadm_id": np.arange(100), "event": "x", "time": 0.0})
    created = splits_for(events, tmp_path / "events.parquet", seed=1)
    assert (tmp_path / "splits.parquet").exists()
    write_splits(created.assign(split="test"), tmp_path / "splits.parquet")  # an edited file is reused, not recomputed
    assert (splits_for(events, tmp_path / "events.parquet", seed=1)["split"] == "test").all()
