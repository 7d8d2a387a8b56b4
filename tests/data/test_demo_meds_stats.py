"""Demo corpus determinism and consistency; MEDS export schema; dataset card."""

import hashlib
import json

import pandas as pd
import pyarrow.parquet as pq

from cts.data.demo import NOTE_COLUMNS, generate_demo
from cts.data.event_table import read_event_table
from cts.data.meds import export_meds
from cts.data.stats import write_stats

DEMO_FILES = ["notes.csv.gz", "clinical_event_timestamp.csv", "events.parquet", "events_normalized.parquet", "splits.parquet"]


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
    shards = sorted(p.relative_to(tmp_path / "meds").as_posix() for p in (tmp_path / "meds" / "data").rglob("*.parquet"))
    assert shards == ["data/held_out/0.parquet", "data/train/0.parquet", "data/tuning/0.parquet"]
    table = pq.read_table(tmp_path / "meds" / "data" / "train" / "0.parquet")
    assert table.schema.names[:4] == ["subject_id", "time", "code", "numeric_value"]
    assert str(table.schema.field("time").type) == "timestamp[us]" and str(table.schema.field("numeric_value").type) == "float"
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
