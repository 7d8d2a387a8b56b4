"""The relation builder (``cts.tasks.relation.build``): random pairing with all three labels and no pair across
admissions; seed pairing as the authors' rule."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cts.data.time_bins import time_bin
from cts.tasks.relation.build import build_relation_pairs
from tests.tasks.helpers import table

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import authors_baseline  # noqa: E402


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


def test_no_pair_crosses_admissions():
    rows = [(hadm, f"a{hadm} e{i}", float(i % 7)) for hadm in range(1, 9) for i in range(int(12 + hadm * 3))]
    events = table(rows).sort_values(["hadm_id", "time"], kind="stable").reset_index(drop=True)
    pairs = build_relation_pairs(events, seed=2)
    assert (pairs["event_a"].str.split().str[0] == "a" + pairs["hadm_id"].astype(str)).all()
    assert (pairs["event_b"].str.split().str[0] == "a" + pairs["hadm_id"].astype(str)).all()
