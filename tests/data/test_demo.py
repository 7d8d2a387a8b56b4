"""The demo corpus (``cts.data.demo``): the same seed gives byte-identical files; every event is in its note, with
events before, at and after admission and discharge last."""

import hashlib

import pandas as pd

from cts.data.demo import NOTE_COLUMNS, generate_demo
from cts.data.event_table import read_event_table

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
