"""Task datasets: relation labels and pairing, nextevent order and ties, forecast windows, split inheritance."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cts.data.time_bins import time_bin
from cts.tasks.forecast.build import build_forecast_windows
from cts.tasks.nextevent.build import build_sequences
from cts.tasks.relation.build import build_relation_pairs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import authors_baseline  # noqa: E402


def table(rows):
    frame = pd.DataFrame(rows, columns=["hadm_id", "event", "time"])
    frame["event"] = frame["event"].astype("category")
    frame["time_bin"] = time_bin(frame["time"].to_numpy())
    return frame


@pytest.fixture
def events():
    rng = np.random.default_rng(0)
    rows = []
    for hadm in range(100, 130):
        times = np.sort(rng.choice([-48.0, -2.0, 0.0, 0.0, 6.0, 30.0, 72.0, 200.0], size=rng.integers(2, 30)))
        rows += [(hadm, f"event {rng.integers(60)}", t) for t in times]
    return table(rows)


def test_relation_random_pairing_has_all_three_classes(events):
    pairs = build_relation_pairs(events, seed=1)
    assert set(pairs["label_name"]) == {"same", "after", "before"}
    expected = np.select([pairs.time_b == pairs.time_a, pairs.time_b > pairs.time_a], [0, 1], 2)
    assert (pairs["label"] == expected).all()
    assert len(pairs) == len(events) - events["hadm_id"].nunique()  # consecutive pairs, none across admissions
    assert (pairs["bin_a"] == time_bin(pairs["time_a"].to_numpy())).all()
    again = build_relation_pairs(events.sample(frac=1, random_state=0).sort_values(["hadm_id", "time"], kind="stable"),
                                 seed=1)
    assert len(again) == len(pairs)


def test_relation_seed_pairing_is_the_authors_rule(events):
    pairs = build_relation_pairs(events, pairing="seed")
    assert "before" not in set(pairs["label_name"])
    reference = pd.DataFrame(authors_baseline.relation_pairs(
        events.rename(columns={"hadm_id": "Hadm_id", "event": "Event", "time": "Time"})
        .assign(Event=lambda f: f.Event.astype(str))))
    assert (pairs[["hadm_id", "event_a", "event_b", "label"]].astype({"label": int}).values.tolist()
            == reference.values.tolist())
    with pytest.raises(ValueError, match="pairing"):
        build_relation_pairs(events, pairing="sorted")


def test_nextevent_whole_admissions_in_time_order_ties_kept():
    events = table([(1, "fever", -24.0), (1, "cough", -24.0), (1, "aspirin", 0.5), (2, "rash", 3.0)])
    seqs = build_sequences(events)
    assert seqs["text"][0] == "[TIME] -24 [EVENT] fever\n[TIME] -24 [EVENT] cough\n[TIME] 0.5 [EVENT] aspirin"
    assert seqs["n_events"].tolist() == [3, 1] and list(seqs["events"][0]) == ["fever", "cough", "aspirin"]
    buckets = build_sequences(events, time_format="bucket")
    assert buckets["text"][0].splitlines()[0] == "[TIME] [T-6] [EVENT] fever"
    assert buckets["text"][0].splitlines()[2] == "[TIME] [T+1] [EVENT] aspirin"
    with pytest.raises(ValueError, match="time_format"):
        build_sequences(events, time_format="minutes")


def test_forecast_window_count_format_and_dedup():
    rows = [(1, f"e{i}", float(i)) for i in range(15)] + [(2, f"e{i}", float(i)) for i in range(11)]
    rows += [(3, "same", 0.0)] * 20 + [(4, "short", 0.0)] * 10
    windows = build_forecast_windows(table(rows), window=11, max_per_admission=10, seed=4)
    counts = windows.groupby("hadm_id").size().to_dict()
    assert counts[1] == 5 and counts[2] == 1 and 4 not in counts  # 15-11+1 starts; one; too short
    assert counts[3] == 1  # 10 identical windows deduplicated
    row = windows[windows.hadm_id == 2].iloc[0]
    lines = row["observation"].split("\n")
    assert len(lines) == 10 and row["hypothesis"] == f"{row.hypothesis_index}:e{row.hypothesis_index}"
    assert row["hypothesis"] not in lines and lines == sorted(lines, key=lambda s: float(s.split(":")[0]))
    again = build_forecast_windows(table(rows), window=11, max_per_admission=10, seed=4)
    pd.testing.assert_frame_equal(windows, again)
    capped = build_forecast_windows(table(rows), window=11, max_per_admission=2, seed=4)
    assert capped.groupby("hadm_id").size().max() == 2


def test_built_datasets_inherit_admission_splits(demo_dir):
    splits = pd.read_parquet(demo_dir / "splits.parquet").set_index("hadm_id")["split"]
    for task in ("relation", "nextevent", "forecast"):
        meta = json.loads((demo_dir / "tasks" / task / "meta.json").read_text())
        for split in ("train", "val", "test"):
            part = pd.read_parquet(demo_dir / "tasks" / task / f"{split}.parquet")
            assert len(part) == meta["rows"][split] > 0
            assert (splits.loc[part["hadm_id"]].to_numpy() == split).all()


def test_no_window_or_pair_crosses_admissions():
    rows = [(hadm, f"a{hadm} e{i}", float(i % 7)) for hadm in range(1, 9) for i in range(int(12 + hadm * 3))]
    events = table(rows).sort_values(["hadm_id", "time"], kind="stable").reset_index(drop=True)
    windows = build_forecast_windows(events, seed=2)
    for hadm, observation, hypothesis in windows[["hadm_id", "observation", "hypothesis"]].itertuples(index=False):
        owners = {line.split(":", 1)[1].split()[0] for line in [*observation.split("\n"), hypothesis]}
        assert owners == {f"a{hadm}"}
    pairs = build_relation_pairs(events, seed=2)
    assert (pairs["event_a"].str.split().str[0] == "a" + pairs["hadm_id"].astype(str)).all()
    assert (pairs["event_b"].str.split().str[0] == "a" + pairs["hadm_id"].astype(str)).all()
