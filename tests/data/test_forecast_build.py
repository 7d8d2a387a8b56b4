"""Forecast windows: target=next never shows an event later than the answer, target=any is the authors' fill-in,
format=authors is their exact text, tied events are listed, and meta.json records target and format."""

import json

import numpy as np
import pandas as pd
import pytest

from cts.data.task_dataset import run_build
from cts.tasks.forecast.build import build_forecast_windows


def table(rows):
    frame = pd.DataFrame(rows, columns=["hadm_id", "event", "time"])
    frame["event"] = frame["event"].astype("category")
    return frame


@pytest.fixture
def events():
    """30 admissions, times drawn with many ties, events unique within an admission (as after normalization)."""
    rng = np.random.default_rng(5)
    rows = []
    for hadm in range(1, 31):
        times = np.sort(rng.choice([-300.0, -48.0, -2.0, 0.0, 0.0, 0.0, 6.0, 30.0, 72.0], size=rng.integers(5, 40)))
        rows += [(hadm, f"event {i}", t) for i, t in enumerate(times)]
    return table(rows)


def test_target_next_windows_never_contain_an_event_later_than_the_hypothesis(events):
    windows = build_forecast_windows(events, window=11, max_per_admission=10, seed=2, target="next")
    assert len(windows) > 50 and (windows["hypothesis_index"] == 10).all()
    for row in windows.itertuples():
        assert max(row.observation_times) <= row.hypothesis_time
        # the observation is exactly the 10 events before the answer, in order
        admission = events[events.hadm_id == row.hadm_id].reset_index(drop=True)
        answer = int(admission.index[admission.event == row.hypothesis_event][0])
        expected = [f"{t:g}:{e}"
                    for t, e in zip(admission.time[answer - 10:answer], admission.event[answer - 10:answer])]
        assert row.observation.split("\n") == expected and row.last_event == admission.event[answer - 1]


def test_target_any_is_the_fill_in_with_later_observed_events(events):
    windows = build_forecast_windows(events, window=11, max_per_admission=10, seed=2, target="any")
    later = [max(t) > h for t, h in zip(windows["observation_times"], windows["hypothesis_time"])]
    assert windows["hypothesis_index"].nunique() > 5 and any(later)


def test_authors_format_matches_their_rule_by_hand():
    rows = [(7, "chest pain", -24.0), (7, "cough", 0.0), (7, "fever", 2.25), (7, "rash", 120.0)]
    windows = build_forecast_windows(table(rows), window=4, max_per_admission=1, seed=0, target="next",
                                     format="authors")
    # str() of each float time, ':', the event; ", " between entries (normalization_LLM_ft_generation.py)
    assert windows["observation"].tolist() == ["-24.0:chest pain, 0.0:cough, 2.25:fever"]
    assert windows["hypothesis"].tolist() == ["120.0:rash"]
    ours = build_forecast_windows(table(rows), window=4, max_per_admission=1, seed=0, target="next")
    assert (ours["observation"].tolist() == ["-24:chest pain\n0:cough\n2.25:fever"]
            and ours["hypothesis"][0] == "120:rash")


def test_events_tied_with_the_hypothesis_are_listed():
    rows = [(1, f"e{i}", t) for i, t in enumerate([0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0])]
    windows = build_forecast_windows(table(rows), window=4, max_per_admission=10, seed=0, target="next")
    ties = {row.hypothesis_event: list(row.hypothesis_ties) for row in windows.itertuples()}
    # e3 is followed by e4, e5 at the same 3 h (unobserved); e4's window observes e3, so only e5 remains
    assert ties == {"e3": ["e3", "e4", "e5"], "e4": ["e4", "e5"], "e5": ["e5"], "e6": ["e6"]}


@pytest.mark.parametrize("bad", [{"target": "last"}, {"format": "csv"}])
def test_unknown_target_or_format_is_refused(events, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        build_forecast_windows(events, **bad)


def test_meta_json_records_target_and_format(tmp_path):
    from functools import partial

    from cts.data.demo import generate_demo

    generate_demo(tmp_path, n_admissions=30, seed=1)
    builder = partial(build_forecast_windows, max_per_admission=2, seed=0, target="any", format="authors")
    meta = run_build("forecast", builder, tmp_path / "events_normalized.parquet", tmp_path / "forecast",
                     splits=tmp_path / "splits.parquet", seed=0)
    saved = json.loads((tmp_path / "forecast" / "meta.json").read_text())
    assert saved["params"]["target"] == "any" and saved["params"]["format"] == "authors" and meta == saved
