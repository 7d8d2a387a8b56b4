"""Forecast windows (count, format, dedup) and no window or pair across admissions. (These belong in
tests/tasks/forecast/test_build.py.)"""

import pandas as pd

from cts.tasks.forecast.build import build_forecast_windows
from cts.tasks.relation.build import build_relation_pairs
from tests.tasks.helpers import table


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
