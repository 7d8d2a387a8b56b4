"""Forecast windows: target=next never shows an event later than the answer, target=any is the authors' fill-in,
format=authors is their exact text, tied events are listed, and meta.json records target and format; the window
count per admission, the cap and deduplication, and no window across admissions."""

import json

import numpy as np
import pandas as pd
import pytest

from cts.data.task_dataset import run_build
from cts.hashing import hash_unit, mix64
from cts.tasks.forecast.build import _row_identity, build_forecast_windows


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
        assert list(row.observation_events) == list(admission.event[answer - 10:answer])


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


def sampled_starts(keys, cap, seed):
    """The ``cap`` candidate starts with the smallest ``hash_unit(key, seed)``, in start order."""
    return sorted(np.argsort(hash_unit(keys, seed), kind="stable")[:cap].tolist())


def start_keys(hadm, n_events, window):
    return np.array([hadm * 1_000_003 + s for s in range(n_events - window + 1)], dtype=np.int64)


def test_each_admission_gets_the_max_per_admission_starts_with_the_smallest_seeded_hash(events):
    """The sampling rule, written out with the hash primitives: per admission, the candidate starts ranked by
    ``hash_unit(hadm * 1_000_003 + local_start, seed)``, the first ``max_per_admission`` kept; ``target=any``
    holds out position ``mix64(key, seed + 1) % window``."""
    window, cap, seed = 5, 4, 3
    windows = build_forecast_windows(events, window=window, max_per_admission=cap, seed=seed, target="any")
    assert windows["window_start"].dtype == np.int32 and windows["hypothesis_index"].dtype == np.int8
    for hadm, admission in events.groupby("hadm_id", sort=True):
        keys = start_keys(hadm, len(admission), window)
        chosen = sampled_starts(keys, cap, seed)
        got = windows[windows.hadm_id == hadm]
        assert got["window_start"].tolist() == chosen, hadm
        expected_held_out = (mix64(keys[chosen], seed + 1) % np.uint64(window)).astype(int).tolist()
        assert got["hypothesis_index"].tolist() == expected_held_out, hadm
        assert len(got) == min(cap, len(admission) - window + 1)


def test_defaults_are_windows_of_11_at_most_10_per_admission_seed_0(events):
    windows = build_forecast_windows(events)
    assert (windows["hypothesis_index"] == 10).all()
    for hadm, admission in events.groupby("hadm_id", sort=True):
        if len(admission) >= 11:
            expected = sampled_starts(start_keys(hadm, len(admission), 11), 10, 0)
            assert windows[windows.hadm_id == hadm]["window_start"].tolist() == expected, hadm


@pytest.mark.parametrize("target", ["next", "any"])
def test_ties_are_the_answer_then_the_unobserved_rows_at_its_time_in_every_admission(events, target):
    windows = build_forecast_windows(events, window=4, max_per_admission=10, seed=1, target=target)
    with_extra_ties = 0
    for row in windows.itertuples():
        admission = events[events.hadm_id == row.hadm_id].reset_index(drop=True)
        answer = row.window_start + row.hypothesis_index
        assert admission.event[answer] == row.hypothesis_event
        after = admission.iloc[row.window_start + 4:]
        expected = [row.hypothesis_event] + after.event[after.time == row.hypothesis_time].tolist()
        assert list(row.hypothesis_ties) == expected, (row.hadm_id, row.window_start)
        with_extra_ties += len(expected) > 1 and row.hadm_id != events.hadm_id.iloc[0]
    assert with_extra_ties > 5   # ties beyond the first admission are exercised


@pytest.mark.parametrize("dtype", ["category", object])
def test_row_identity_is_equal_exactly_for_equal_time_and_event(dtype):
    # 2 distinct times and 4 events: more event codes than times, where a packing without room collides
    pairs = [(t, e) for e in ["a", "b", "c", "d"] for t in [0.0, 5.0]] + [(5.0, "c"), (0.0, "a")]
    frame = pd.DataFrame({"hadm_id": 1, "time": [t for t, _ in pairs], "event": [e for _, e in pairs]})
    frame["event"] = frame["event"].astype(dtype)
    ids = _row_identity(frame)
    for i, left in enumerate(pairs):
        for j, right in enumerate(pairs):
            assert (ids[i] == ids[j]) == (left == right), (left, right)


def test_plain_string_events_build_the_same_windows_as_categorical_ones(events):
    plain = events.assign(event=events["event"].astype(str))
    expected = build_forecast_windows(events, window=6, max_per_admission=3, seed=4)
    got = build_forecast_windows(plain, window=6, max_per_admission=3, seed=4)
    assert got["observation"].tolist() == expected["observation"].tolist()
    assert got["hypothesis"].tolist() == expected["hypothesis"].tolist()


def test_duplicate_windows_are_dropped():
    rows = [(1, "a", 0.0), (1, "b", 1.0)] * 3 + [(2, "a", 0.0), (2, "b", 1.0)]
    windows = build_forecast_windows(table(rows), window=2, max_per_admission=10, seed=0)
    # admission 1 has windows a→b, b→a, a→b, b→a, a→b: two distinct; admission 2 has a→b
    assert sorted(zip(windows.hadm_id, windows.observation, windows.hypothesis)) == [
        (1, "0:a", "1:b"), (1, "1:b", "0:a"), (2, "0:a", "1:b")]


def test_authors_format_renders_integer_hours_as_floats():
    rows = pd.DataFrame({"hadm_id": [3, 3, 3], "event": ["x", "y", "z"], "time": np.array([-24, 0, 48])})
    windows = build_forecast_windows(rows, window=3, max_per_admission=1, format="authors")
    assert windows["observation"].tolist() == ["-24.0:x, 0.0:y"] and windows["hypothesis"].tolist() == ["48.0:z"]


@pytest.mark.parametrize("window,cap", [(1, 10), (11, 0)])
def test_a_window_under_two_or_a_cap_under_one_is_refused(events, window, cap):
    with pytest.raises(ValueError, match=f"need window >= 2 and max_per_admission >= 1, got {window}, {cap}"):
        build_forecast_windows(events, window=window, max_per_admission=cap)


def test_thousands_of_windows_each_get_their_own_observation():
    rows = [(hadm, f"e{i}", float(i)) for hadm in range(600) for i in range(20)]
    windows = build_forecast_windows(table(rows), window=11, max_per_admission=10, seed=0)
    assert len(windows) == 6000
    last = windows.iloc[-1]
    start = last.window_start
    assert last.observation == "\n".join(f"{i}:e{i}" for i in range(start, start + 10))
    assert all(text.count("\n") == 9 for text in windows["observation"])


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


def test_no_window_crosses_admissions():
    rows = [(hadm, f"a{hadm} e{i}", float(i % 7)) for hadm in range(1, 9) for i in range(int(12 + hadm * 3))]
    events = table(rows).sort_values(["hadm_id", "time"], kind="stable").reset_index(drop=True)
    windows = build_forecast_windows(events, seed=2)
    for hadm, observation, hypothesis in windows[["hadm_id", "observation", "hypothesis"]].itertuples(index=False):
        owners = {line.split(":", 1)[1].split()[0] for line in [*observation.split("\n"), hypothesis]}
        assert owners == {f"a{hadm}"}
