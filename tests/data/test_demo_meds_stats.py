"""The MEDS export (``cts.data.meds``) of the demo corpus and of a hand-made table with admission times: layout and
schemas (checked by the ``meds`` package), one subject per admission or per patient, times, splits, a torn patient
refused. (These belong in tests/data/test_meds.py.)"""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cts.data.event_table import read_event_table
from cts.data.meds import export_meds


def test_meds_export_layout_and_schema(tmp_path, demo_dir):
    counts = export_meds(demo_dir / "events_normalized.parquet", tmp_path / "meds")
    shards = sorted(p.relative_to(tmp_path / "meds").as_posix()
                    for p in (tmp_path / "meds" / "data").rglob("*.parquet"))
    assert shards == ["data/held_out/0.parquet", "data/train/0.parquet", "data/tuning/0.parquet"]
    table = pq.read_table(tmp_path / "meds" / "data" / "train" / "0.parquet")
    assert table.schema.names[:4] == ["subject_id", "time", "code", "numeric_value"]
    assert (str(table.schema.field("time").type) == "timestamp[us]"
            and str(table.schema.field("numeric_value").type) == "float")
    frame = table.to_pandas()
    assert frame["code"].str.startswith("EVENT//").all()
    assert (frame.groupby("subject_id")["time"].apply(lambda t: t.is_monotonic_increasing)).all()
    subjects = pq.read_table(tmp_path / "meds" / "metadata" / "subject_splits.parquet").to_pandas()
    assert set(subjects["split"]) == {"train", "tuning", "held_out"} and subjects["subject_id"].is_unique
    assert json.loads((tmp_path / "meds" / "metadata" / "dataset.json").read_text())["etl_name"] == "cts"
    assert sum(counts.values()) == len(read_event_table(demo_dir / "events_normalized.parquet"))


def _validate_meds(root):
    """The output against the `meds` package's own schemas (DataSchema, SubjectSplitSchema, CodeMetadataSchema,
    DatasetMetadataSchema)."""
    import meds

    for shard in (root / "data").rglob("*.parquet"):
        meds.DataSchema.validate(pq.read_table(shard))
    meds.SubjectSplitSchema.validate(pq.read_table(root / meds.subject_splits_filepath))
    meds.CodeMetadataSchema.validate(pq.read_table(root / meds.code_metadata_filepath))
    meds.DatasetMetadataSchema.validate(json.loads((root / meds.dataset_metadata_filepath).read_text()))


def _meds_rows(root):
    return pd.concat([pq.read_table(p).to_pandas().assign(meds_split=p.parent.name)
                      for p in sorted((root / "data").rglob("*.parquet"))], ignore_index=True)


def test_meds_round_trip_one_subject_per_admission(tmp_path, demo_dir):
    """Without admission times every admission is its own subject; time − anchor = hours on every row; each
    admission's MEDS split is its splits.parquet split (train→train, val→tuning, test→held_out)."""
    export_meds(demo_dir / "events_normalized.parquet", tmp_path / "meds", anchor="2000-01-01")
    _validate_meds(tmp_path / "meds")
    rows = _meds_rows(tmp_path / "meds")
    events = read_event_table(demo_dir / "events_normalized.parquet")
    assert (rows["subject_id"] == rows["hadm_id"]).all()
    merged = rows.merge(events.assign(code="EVENT//" + events["event"].astype(str))[["hadm_id", "code", "time"]]
                        .rename(columns={"time": "hours"}), on=["hadm_id", "code"], validate="one_to_one")
    assert len(merged) == len(events)
    hours = (merged["time"] - pd.Timestamp("2000-01-01")) / pd.Timedelta(hours=1)
    assert (hours - merged["hours"]).abs().max() < 1e-6
    splits = pd.read_parquet(demo_dir / "splits.parquet").set_index("hadm_id")["split"]
    expected = merged["hadm_id"].map(splits).map({"train": "train", "val": "tuning", "test": "held_out"})
    assert (merged["meds_split"] == expected).all()
    codes = pq.read_table(tmp_path / "meds" / "metadata" / "codes.parquet").to_pandas()
    assert set(codes["code"]) == set(rows["code"]) and codes["code"].is_unique
    dataset = json.loads((tmp_path / "meds" / "metadata" / "dataset.json").read_text())
    assert pd.Timestamp(dataset["created_at"]).tzinfo is not None


def _small_table(tmp_path):
    """Three patients: 7 has admissions 100 and 101, 8 has 200, 9 has 300 (hand-made, with their admit times)."""
    events = pd.DataFrame({"Hadm_id": [100, 100, 101, 200, 300], "Event": ["fever", "cough", "rash", "fever", "pain"],
                           "Time": [-2.0, 1.5, 0.0, 24.0, 0.25]})
    events.to_csv(tmp_path / "events.csv", index=False)
    admissions = pd.DataFrame({"subject_id": [7, 7, 8, 9, 5], "hadm_id": [100, 101, 200, 300, 999],
                               "admittime": ["2150-01-01 08:00:00", "2150-03-05 12:30:00", "2120-06-01 00:00:00",
                                             "2133-02-02 23:00:00", "2100-01-01 00:00:00"],
                               "admission_type": ["EW EMER."] * 5})
    admissions.to_csv(tmp_path / "admissions.csv.gz", index=False)
    return tmp_path / "events.csv", tmp_path / "admissions.csv.gz"


def test_meds_with_admission_times_uses_patients_and_admittime(tmp_path):
    from cts.data.splits import write_splits_for_file

    events, admissions = _small_table(tmp_path)
    write_splits_for_file(events, admissions=admissions, seed=0)
    export_meds(events, tmp_path / "meds", admissions=admissions)
    _validate_meds(tmp_path / "meds")
    rows = _meds_rows(tmp_path / "meds").sort_values(["hadm_id", "time"])
    assert rows["subject_id"].tolist() == [7, 7, 7, 8, 9]
    assert [str(t) for t in rows["time"]] == ["2150-01-01 06:00:00", "2150-01-01 09:30:00", "2150-03-05 12:30:00",
                                              "2120-06-02 00:00:00", "2133-02-02 23:15:00"]
    assert rows.groupby("subject_id")["meds_split"].nunique().max() == 1


def test_meds_refuses_patients_torn_across_admission_level_splits(tmp_path):
    from cts.data.meds import MedsExportError

    events, admissions = _small_table(tmp_path)
    pd.DataFrame({"hadm_id": [100, 101, 200, 300], "split": ["train", "test", "train", "val"]}).to_parquet(
        tmp_path / "splits.parquet")
    with pytest.raises(MedsExportError, match=r"1 patient\(s\) have admissions in different splits.*stage=splits"):
        export_meds(events, tmp_path / "meds", admissions=admissions)
