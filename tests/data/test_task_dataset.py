"""Task datasets (``cts.data.task_dataset``): built datasets inherit the admission splits."""

import json

import pandas as pd


def test_built_datasets_inherit_admission_splits(demo_dir):
    splits = pd.read_parquet(demo_dir / "splits.parquet").set_index("hadm_id")["split"]
    for task in ("relation", "nextevent", "forecast"):
        meta = json.loads((demo_dir / "tasks" / task / "meta.json").read_text())
        for split in ("train", "val", "test"):
            part = pd.read_parquet(demo_dir / "tasks" / task / f"{split}.parquet")
            assert len(part) == meta["rows"][split] > 0
            assert (splits.loc[part["hadm_id"]].to_numpy() == split).all()
