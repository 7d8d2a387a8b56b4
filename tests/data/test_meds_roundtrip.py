"""MEDS export read back: every row's time minus the anchor is its event's hours, to the microsecond, and every
admission sits in the MEDS split named after its splits.parquet split. Written against the public ``export_meds``
only, so it holds for any subject mapping (patients or admissions)."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cts.data.meds import export_meds
from cts.data.splits import write_splits

MEDS_NAME = {"train": "train", "val": "tuning", "test": "held_out"}  # the MEDS convention, written out by hand
HOURS = {11: [-48.0, 0.0, 2.5], 12: [-0.25, 1.0], 13: [1e-3, 36.0, 720.0], 14: [0.0], 15: [-8760.0, 5.75]}
SPLIT = {11: "train", 12: "val", 13: "test", 14: "train", 15: "test"}


def test_time_minus_anchor_is_hours_and_splits_follow_splits_parquet(tmp_path):
    rows = [(h, f"event {h}-{k}", t) for h, times in HOURS.items() for k, t in enumerate(times)]
    events = tmp_path / "events.csv"
    events.write_text("Hadm_id,Event,Time\n" + "".join(f"{h},{e},{t!r}\n" for h, e, t in rows))
    splits = tmp_path / "chosen_splits.parquet"
    write_splits(pd.DataFrame({"hadm_id": list(SPLIT), "split": list(SPLIT.values())}), splits)

    export_meds(events, tmp_path / "meds", splits=splits, anchor="2000-01-01")

    shards = sorted((tmp_path / "meds" / "data").glob("*/*.parquet"))
    read = pd.concat([pq.read_table(p).to_pandas().assign(meds_split=p.parent.name) for p in shards])
    assert len(read) == len(rows)
    read["hours"] = (read["time"] - pd.Timestamp("2000-01-01")) / pd.Timedelta(hours=1)
    got = sorted(zip(read["hadm_id"].astype(int), read["hours"], read["code"]))
    want = sorted((h, t, "EVENT//" + e) for h, e, t in rows)  # the default code prefix, then the event text
    assert [(h, c) for h, _, c in got] == [(h, c) for h, _, c in want]
    np.testing.assert_allclose([t for _, t, _ in got], [t for _, t, _ in want], rtol=0, atol=1e-9)
    assert read["numeric_value"].isna().all()
    assert (read.groupby("hadm_id")["subject_id"].nunique() == 1).all()  # an admission is never split over subjects
    for hadm_id, split in SPLIT.items():
        assert set(read.loc[read["hadm_id"] == hadm_id, "meds_split"]) == {MEDS_NAME[split]}, hadm_id
    subjects = pq.read_table(tmp_path / "meds" / "metadata" / "subject_splits.parquet").to_pandas()
    subject_of = read.drop_duplicates("hadm_id").set_index("hadm_id")["subject_id"]
    listed = subjects.set_index("subject_id")["split"]
    for hadm_id, split in SPLIT.items():
        assert listed.loc[subject_of.loc[hadm_id]] == MEDS_NAME[split], hadm_id
