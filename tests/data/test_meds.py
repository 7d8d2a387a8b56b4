"""MEDS export read back: every row's time minus the anchor is its event's hours, to the microsecond, and every
admission sits in the MEDS split named after its splits.parquet split. Written against the public ``export_meds``
only, so it holds for any subject mapping (patients or admissions). Also: the metadata files and their MEDS schemas,
shards that never cut a subject, the seed and time policy reaching the export, patients on the real timeline with
``admissions``, and a patient torn over two splits refused. The demo corpus exported whole: its layout and the
``meds`` package's own schemas, one subject per admission; a hand-made table with admission times, one subject per
patient."""

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cts
from cts.data.event_table import read_event_table
from cts.data.meds import MedsExportError, export_meds
from cts.data.splits import make_splits, write_splits, write_splits_for_file

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


def _events_csv(path, rows):
    path.write_text("Hadm_id,Event,Time\n" + "".join(f"{h},{e},{t}\n" for h, e, t in rows))
    return path


def _splits(path, split_of):
    write_splits(pd.DataFrame({"hadm_id": list(split_of), "split": list(split_of.values())}), path)
    return path


def test_metadata_describes_the_export_with_meds_schemas(tmp_path):
    events = _events_csv(tmp_path / "mimic.events.csv", [(21, "fever", 1.0), (21, "cough", 2.0), (22, "rash", 0.5),
                                                         (23, "fever", -3.0)])
    splits = _splits(tmp_path / "s.parquet", {21: "train", 22: "val", 23: "test"})
    before = datetime.now(UTC)
    export_meds(events, tmp_path / "meds", splits=splits, anchor="2010-06-15", code_prefix="EV/")
    metadata = tmp_path / "meds" / "metadata"
    dataset = json.loads((metadata / "dataset.json").read_text())
    created = datetime.fromisoformat(dataset.pop("created_at"))
    assert created.utcoffset() == timedelta(0) and before - timedelta(seconds=1) <= created <= datetime.now(UTC)
    assert dataset == {"dataset_name": "mimic", "dataset_version": "mimic.events.csv", "etl_name": "cts",
                       "etl_version": cts.__version__, "meds_version": "0.4.1", "raw_source_id_columns": ["hadm_id"],
                       "time_anchor": "2010-06-15", "subject": "admission (subject_id = hadm_id)",
                       "time_unit_note": "time = admission start + hours since admission"}
    codes = pq.read_table(metadata / "codes.parquet")
    assert codes.schema.names == ["code", "description", "parent_codes"]
    assert codes.schema.types == [pa.string(), pa.string(), pa.list_(pa.string())]
    assert codes.to_pydict() == {"code": ["EV/cough", "EV/fever", "EV/rash"], "description": ["cough", "fever", "rash"],
                                 "parent_codes": [None, None, None]}
    subjects = pq.read_table(metadata / "subject_splits.parquet")
    assert [(f.name, f.type, f.nullable) for f in subjects.schema] == [("subject_id", pa.int64(), False),
                                                                        ("split", pa.string(), False)]
    assert subjects.to_pydict() == {"subject_id": [21, 22, 23], "split": ["train", "tuning", "held_out"]}
    shard = pq.read_table(tmp_path / "meds" / "data" / "tuning" / "0.parquet")
    assert [(f.name, f.type) for f in shard.schema] == [
        ("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
        ("numeric_value", pa.float32()), ("hadm_id", pa.int64())]
    assert shard.column("time").to_pylist() == [datetime(2010, 6, 15, 0, 30)]


def test_shards_close_at_a_subject_start_once_they_hold_shard_size_rows(tmp_path):
    sizes = {31: 3, 32: 1, 33: 3, 34: 1}   # rows per admission (= subject here), all in train
    rows = [(h, f"e{k}", float(k)) for h, n in sizes.items() for k in range(n)]
    events = _events_csv(tmp_path / "events.csv", rows)
    splits = _splits(tmp_path / "s.parquet", dict.fromkeys(sizes, "train"))
    counts = export_meds(events, tmp_path / "meds", splits=splits, shard_size=3)
    assert counts == {"train": 8, "tuning": 0, "held_out": 0}
    folder = tmp_path / "meds" / "data" / "train"
    shards = [pq.read_table(folder / f"{n}.parquet").column("subject_id").to_pylist() for n in range(3)]
    # 31 fills a shard (3 rows); 32 (1) + 33 (3) fill the next, though it passes 3; 34 starts the last
    assert shards == [[31, 31, 31], [32, 33, 33, 33], [34]]
    assert sorted(p.name for p in folder.iterdir()) == ["0.parquet", "1.parquet", "2.parquet"]


def test_splits_made_beside_the_input_use_the_seed_0_by_default(tmp_path):
    hadm = list(range(100, 140))
    rows = [(h, "fever", 0.0) for h in hadm]
    for seed in (None, 7):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        export_meds(_events_csv(folder / "events.csv", rows), folder / "meds",
                    **({} if seed is None else {"seed": seed}))
        made = make_splits(pd.DataFrame({"hadm_id": hadm}), seed=seed or 0).set_index("hadm_id")["split"]
        shards = (folder / "meds" / "data").glob("*/*.parquet")
        read = pd.concat([pq.read_table(p).to_pandas().assign(meds_split=p.parent.name) for p in shards])
        assert len(read) == len(hadm)
        assert (read["meds_split"] == read["hadm_id"].map(made.astype(str)).map(MEDS_NAME)).all(), seed


def test_time_policy_zero_keeps_an_unreadable_time_at_the_anchor(tmp_path):
    events = _events_csv(tmp_path / "events.csv", [(41, "fever", "soon"), (41, "cough", 2.0)])
    splits = _splits(tmp_path / "s.parquet", {41: "train"})
    export_meds(events, tmp_path / "kept", splits=splits, time_policy="zero")
    export_meds(events, tmp_path / "dropped", splits=splits)
    kept = pq.read_table(tmp_path / "kept" / "data" / "train" / "0.parquet").to_pydict()
    dropped = pq.read_table(tmp_path / "dropped" / "data" / "train" / "0.parquet").to_pydict()
    assert sorted(zip(kept["code"], kept["time"])) == [("EVENT//cough", datetime(2000, 1, 1, 2)),
                                                       ("EVENT//fever", datetime(2000, 1, 1))]
    assert dropped["code"] == ["EVENT//cough"]


def _admissions_csv(path, rows):
    pd.DataFrame(rows, columns=["subject_id", "hadm_id", "admittime"]).to_csv(path, index=False)
    return path


def test_with_admissions_the_subject_is_the_patient_on_the_real_timeline(tmp_path):
    events = _events_csv(tmp_path / "events.csv", [(51, "fever", 1.5), (52, "rash", -2.0), (53, "cough", 0.0)])
    admissions = _admissions_csv(tmp_path / "admissions.csv.gz", [
        (7, 51, "2150-01-01 08:00:00"), (7, 52, "2150-03-05 12:30:00"), (8, 53, "2120-06-01 00:00:00")])
    splits = _splits(tmp_path / "s.parquet", {51: "test", 52: "test", 53: "train"})
    export_meds(events, tmp_path / "meds", splits=splits, admissions=admissions)
    held_out = pq.read_table(tmp_path / "meds" / "data" / "held_out" / "0.parquet").to_pydict()
    assert list(zip(held_out["subject_id"], held_out["hadm_id"], held_out["time"])) == [
        (7, 51, datetime(2150, 1, 1, 9, 30)), (7, 52, datetime(2150, 3, 5, 10, 30))]
    train = pq.read_table(tmp_path / "meds" / "data" / "train" / "0.parquet").to_pydict()
    assert (train["subject_id"], train["time"]) == ([8], [datetime(2120, 6, 1)])
    dataset = json.loads((tmp_path / "meds" / "metadata" / "dataset.json").read_text())
    assert (dataset["time_anchor"], dataset["subject"]) == ("admittime (MIMIC-IV admissions)", "patient (subject_id)")


def test_a_patient_with_admissions_in_two_splits_is_refused(tmp_path):
    events = _events_csv(tmp_path / "events.csv", [(61, "fever", 0.0), (62, "rash", 1.0), (63, "cough", 2.0),
                                                   (64, "pain", 3.0)])
    admissions = _admissions_csv(tmp_path / "admissions.csv.gz", [
        (8, 61, "2150-01-01 08:00:00"), (9, 62, "2150-01-01 08:00:00"), (9, 63, "2150-02-01 08:00:00"),
        (8, 64, "2150-03-01 08:00:00")])
    splits = _splits(tmp_path / "s.parquet", {61: "train", 62: "val", 63: "test", 64: "train"})
    with pytest.raises(MedsExportError, match=r"1 patient\(s\) have admissions in different splits "
                                              r"\(e\.g\. subject_id 9\)"):
        export_meds(events, tmp_path / "meds", splits=splits, admissions=admissions)
    assert not (tmp_path / "meds").exists()


def test_admissions_missing_from_the_admissions_file_are_named(tmp_path):
    rows = [(h, "fever", 0.0) for h in (71, 72, 73, 74, 75, 76)]
    events = _events_csv(tmp_path / "events.csv", rows)
    admissions = _admissions_csv(tmp_path / "admissions.csv.gz", [(1, 71, "2150-01-01 08:00:00"),
                                                                   (2, 72, "2150-01-01 08:00:00")])
    splits = _splits(tmp_path / "s.parquet", {h: "train" for h, _, _ in rows})
    with pytest.raises(MedsExportError, match=rf"^{re.escape(str(events))}: 4 admission\(s\) not in "
                                              rf"{re.escape(str(admissions))} \(e\.g\. hadm_id \[73, 74, 75\]\); "):
        export_meds(events, tmp_path / "meds", splits=splits, admissions=admissions)


def test_an_admission_without_admittime_is_named(tmp_path):
    rows = [(h, "fever", 0.0) for h in (81, 82, 83)]
    events = _events_csv(tmp_path / "events.csv", rows)
    admissions = tmp_path / "admissions.csv"
    admissions.write_text("subject_id,hadm_id,admittime\n1,81,2150-01-01 08:00:00\n2,82,\n3,83,\n")
    splits = _splits(tmp_path / "s.parquet", {h: "train" for h, _, _ in rows})
    with pytest.raises(MedsExportError, match=rf"^{re.escape(str(admissions))}, column 'admittime': empty for "
                                              r"hadm_id 82$"):
        export_meds(events, tmp_path / "meds", splits=splits, admissions=admissions)


def test_an_admission_without_a_split_is_named_with_the_event_table(tmp_path):
    events = _events_csv(tmp_path / "events.csv", [(61, "fever", 0.0), (62, "rash", 1.0)])
    splits = _splits(tmp_path / "s.parquet", {61: "train"})
    with pytest.raises(ValueError, match=re.escape(f"{events}: 1 admission(s) have no split (e.g. hadm_id [62])")):
        export_meds(events, tmp_path / "meds", splits=splits)


def test_a_second_export_replaces_the_first_whole(tmp_path):
    rows = [(h, "fever", 0.0) for h in (71, 72, 73, 74)]
    events = _events_csv(tmp_path / "events.csv", rows)
    splits = _splits(tmp_path / "s.parquet", dict.fromkeys((71, 72, 73, 74), "train"))
    export_meds(events, tmp_path / "meds", splits=splits, shard_size=1)
    folder = tmp_path / "meds" / "data" / "train"
    assert sorted(p.name for p in folder.iterdir()) == ["0.parquet", "1.parquet", "2.parquet", "3.parquet"]
    export_meds(_events_csv(tmp_path / "events.csv", rows[:2]), tmp_path / "meds", splits=splits)
    assert sorted(p.name for p in folder.iterdir()) == ["0.parquet"]  # no shard of the larger export is left
    assert pq.read_table(folder / "0.parquet").column("hadm_id").to_pylist() == [71, 72]
    assert sorted(str(p.relative_to(tmp_path / "meds")) for p in (tmp_path / "meds").rglob("*") if p.is_file()) == [
        "data/held_out/0.parquet", "data/train/0.parquet", "data/tuning/0.parquet", "metadata/codes.parquet",
        "metadata/dataset.json", "metadata/subject_splits.parquet"]


def test_the_export_says_what_it_wrote(tmp_path, caplog, capsys):
    events = _events_csv(tmp_path / "events.csv", [(51, "fever", 1.5), (52, "rash", -2.0), (53, "cough", 0.0)])
    splits = _splits(tmp_path / "s.parquet", {51: "test", 52: "test", 53: "train"})
    with caplog.at_level("INFO"):
        export_meds(events, tmp_path / "meds", splits=splits, anchor="2001-02-03")
    said = caplog.text + capsys.readouterr().out
    assert ("export_meds: 3 events of 3 subjects (one per admission, anchored at 2001-02-03) "
            f"{{'train': 1, 'tuning': 0, 'held_out': 2}} → {tmp_path / 'meds'}") in said
    admissions = _admissions_csv(tmp_path / "admissions.csv.gz", [
        (7, 51, "2150-01-01 08:00:00"), (7, 52, "2150-03-05 12:30:00"), (8, 53, "2120-06-01 00:00:00")])
    caplog.clear()
    with caplog.at_level("INFO"):
        export_meds(events, tmp_path / "meds2", splits=splits, admissions=admissions)
    said = caplog.text + capsys.readouterr().out
    assert "export_meds: 3 events of 2 subjects (patients, real admission times) {'train': 1, " in said


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
    events, admissions = _small_table(tmp_path)
    pd.DataFrame({"hadm_id": [100, 101, 200, 300], "split": ["train", "test", "train", "val"]}).to_parquet(
        tmp_path / "splits.parquet")
    with pytest.raises(MedsExportError, match=r"1 patient\(s\) have admissions in different splits.*stage=splits"):
        export_meds(events, tmp_path / "meds", admissions=admissions)
