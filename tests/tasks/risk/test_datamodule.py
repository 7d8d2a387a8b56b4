"""task=risk data: no event after the horizon reaches the model; a patient in two splits is refused."""

import re

import pandas as pd
import pytest

from cts.models.spec import ModelSpec
from cts.tasks.risk.datamodule import RiskCohortError, RiskDataModule


def _datamodule(root, horizon, **kwargs):
    spec = ModelSpec("gpt", preset="tiny", max_length=64, cache_dir=root / "cache")
    module = RiskDataModule(str(root / "tasks" / "risk"), spec, labels=str(root / "labels" / "mortality.parquet"),
                            horizon_hours=horizon, cache_dir=str(root / "cache"), **kwargs)
    module.prepare()
    return module


def test_no_event_after_the_horizon_reaches_the_model(risk_demo):
    events = pd.read_parquet(risk_demo / "events_normalized.parquet")
    assert (events["time"] > 24).any()  # the demo has later events to leak
    module = _datamodule(risk_demo, 24)
    tokenizer = module.tokenizer
    seen = 0
    for split, dataset in module.datasets.items():
        for ids in dataset.columns["input_ids"]:
            text = tokenizer.decode(ids)
            hours = [float(h) for h in re.findall(r"\[TIME\]\s*(-?[\d.e+]+)", text)]
            assert all(h <= 24 for h in hours), (split, hours)
            seen += len(hours)
    assert seen > 100


def test_subject_split_check(risk_demo, tmp_path):
    module = _datamodule(risk_demo, 24)
    placed = pd.concat([f[["subject_id"]].assign(split=s) for s, f in module.frames.items()])
    assert placed.drop_duplicates().groupby("subject_id")["split"].nunique().max() == 1
    # one patient's two admissions in train and test: refused, naming the fix
    data = tmp_path / "tasks" / "risk"
    data.mkdir(parents=True)
    frames = {s: pd.read_parquet(risk_demo / "tasks" / "risk" / f"{s}.parquet") for s in ("train", "val", "test")}
    frames["test"].loc[0, "subject_id"] = frames["train"]["subject_id"].iloc[0]
    for split, frame in frames.items():
        frame.to_parquet(data / f"{split}.parquet")
    (tmp_path / "labels").mkdir()
    pd.read_parquet(risk_demo / "labels" / "mortality.parquet").to_parquet(tmp_path / "labels" / "mortality.parquet")
    with pytest.raises(RiskCohortError, match="more than one split.*stage=splits"):
        _datamodule(tmp_path, 24)
