"""Leakage control in the risk cohort: the horizon cut, the outcome-naming filter, stays that ended before the cut."""

import numpy as np
import pandas as pd

from cts.tasks.risk.build import (
    LEAK_TERMS,
    build_risk_sequences,
    leak_pattern,
    make_cohort,
)

EVENTS = pd.DataFrame({
    "hadm_id": [1, 1, 1, 1, 1, 2, 2, 3],
    "event": ["copd", "fever", "patient expired", "norepinephrine", "Discharged home", "rash", "sepsis", "gout"],
    "time": [-8760.0, 0.0, 20.0, 24.0, 24.5, 30.0, 100.0, 5.0],
    "subject_id": [10, 10, 10, 10, 10, 20, 20, 30],
})


def test_horizon_cut_and_leak_filter_on_a_hand_made_admission():
    rows = build_risk_sequences(EVENTS)
    labels = pd.DataFrame({"hadm_id": [1, 2, 4], "label": np.int8([1, 0, 1])})
    cohort, report = make_cohort(rows, labels, horizon_hours=24)
    first = cohort.set_index("hadm_id").loc[1]
    # 24.5 h is after the horizon; "patient expired" names the outcome; 24 h itself is seen (time <= horizon)
    assert list(first["events"]) == ["copd", "fever", "norepinephrine"] and list(first["times"]) == [-8760, 0, 24]
    assert cohort.set_index("hadm_id").loc[2, "events"] == []  # nothing before 24 h: kept, empty
    assert (report.without_label, report.empty_before_cut, report.events_after_cut,
            report.events_leak_filtered) == (1, 1, 3, 1)
    dropped, report = make_cohort(rows, labels, horizon_hours=24, empty="drop")
    assert dropped["hadm_id"].tolist() == [1] and report.empty_dropped == 1
    unfiltered, _ = make_cohort(rows, labels, horizon_hours=24, leak_terms=())
    assert "patient expired" in unfiltered.set_index("hadm_id").loc[1, "events"]


def test_prediction_time_overrides_horizon_and_null_cuts_at_discharge():
    rows = build_risk_sequences(EVENTS)
    labels = pd.DataFrame({"hadm_id": [1, 2, 3], "label": np.int8([1, 0, 0]),
                           "prediction_time": [1.0, np.nan, np.nan], "discharge_hours": [48.0, 50.0, 2.0]})
    cohort, report = make_cohort(rows, labels, horizon_hours=None)
    cut = cohort.set_index("hadm_id")
    assert list(cut.loc[1, "events"]) == ["copd", "fever"]  # its own prediction time: 1 h
    assert list(cut.loc[2, "events"]) == ["rash"]  # no horizon: up to discharge (50 h)
    assert 3 in cut.index
    cohort, report = make_cohort(rows, labels, horizon_hours=24)
    assert 3 not in set(cohort["hadm_id"]) and report.ended_before_cut == 1  # discharged at 2 h, before 24 h


def test_no_event_naming_the_outcome_survives_the_filter_on_the_demo(risk_demo):
    pattern = leak_pattern(LEAK_TERMS)
    rows = build_risk_sequences(pd.read_parquet(risk_demo / "events_normalized.parquet"))
    labels = pd.read_parquet(risk_demo / "labels" / "mortality.parquet")
    everything, _ = make_cohort(rows, labels, horizon_hours=None, leak_terms=())
    assert any(pattern.search(e) for events in everything["events"] for e in events)  # dispositions are there
    filtered, report = make_cohort(rows, labels, horizon_hours=None)
    assert not any(pattern.search(e) for events in filtered["events"] for e in events)
    assert report.events_leak_filtered > 0
