"""Demo corpus determinism and consistency; MEDS export schema; dataset card."""

import hashlib
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cts.data.demo import NOTE_COLUMNS, generate_demo
from cts.data.event_table import read_event_table
from cts.data.meds import export_meds
from cts.reports.card import write_stats

DEMO_FILES = ["notes.csv.gz", "clinical_event_timestamp.csv", "events.parquet", "events_normalized.parquet",
              "splits.parquet"]


def digests(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in DEMO_FILES}


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate_demo(tmp_path / "a", n_admissions=30, seed=11)
    generate_demo(tmp_path / "b", n_admissions=30, seed=11)
    generate_demo(tmp_path / "c", n_admissions=30, seed=12)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert digests(tmp_path / "a")["notes.csv.gz"] != digests(tmp_path / "c")["notes.csv.gz"]


def test_events_are_in_their_notes_with_temporal_structure(demo_dir):
    notes = pd.read_csv(demo_dir / "notes.csv.gz")
    assert list(notes.columns) == NOTE_COLUMNS
    notes = notes.set_index("hadm_id")
    events = read_event_table(demo_dir / "events.parquet")
    for hadm_id, group in events.groupby("hadm_id"):
        text = notes.loc[hadm_id, "text"]
        assert all(event in text for event in group["event"].astype(str))
        assert group["time"].min() < 0 and (group["time"] == 0).any() and group["time"].max() > 0
        assert str(group["event"].iloc[-1]).startswith("discharged")  # discharge is last
    assert "___" in notes["text"].iloc[0] and "Brief Hospital Course:" in notes["text"].iloc[0]
    raw = pd.read_csv(demo_dir / "clinical_event_timestamp.csv")
    assert list(raw.columns) == ["Hadm_id", "Event", "Time", "Time_bin"] and (raw["Time"] == "-").any()


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


def test_stats_card(tmp_path, demo_dir):
    stats = write_stats(demo_dir / "events_normalized.parquet", tmp_path / "card")
    assert {"card.md", "stats.json", "time_histogram.png"} <= {p.name for p in (tmp_path / "card").iterdir()}
    assert (tmp_path / "card" / "time_histogram.png").read_bytes()[:4] == b"\x89PNG"
    shares = stats["share_of_events"]
    assert abs(sum(shares.values()) - 1) < 1e-9 and all(v > 0 for v in shares.values())
    assert sum(stats["time_bins"].values()) == stats["rows"]


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
