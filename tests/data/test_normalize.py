"""The authors' 1M recipe: each rule with positive and negative cases, and equality with the reference code."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cts.data.event_table import read_event_table, write_event_table
from cts.data.normalize import normalize_events, rule_masks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import authors_baseline  # noqa: E402

CASES = {
    "gender": (["Female", "Male", "F", "M"], ["female", " F", "F.", "Males", "FM"]),
    "numeric": (["120", " -3 ", "1,200", "98.6", "+7", "12,345,678.25"], ["1,20", "12a", "1.", ".5", "BP 120"]),
    "time_expression": (
        ["fever for 3 days", "3d", "2.5 hrs", "at 10:30", "4 pm", "4PM", "65 yo", "65 y/o man", "5 yr-old",
         "3 Weeks ago", "years", " yrs ", "10 years old", "30 min", "1 sec"],
        ["day 3 fever", "3dx", "100:300", "123pm", "d-dimer", "yearly exam", "COVID-19", "x10 days", "B12", "T4"],
    ),
}


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_positive_and_negative_cases(rule):
    removed, kept = CASES[rule]
    masks = rule_masks(pa.array(removed + kept))
    hit = masks[rule]
    assert hit[: len(removed)].all(), [s for s, h in zip(removed, hit) if not h]
    any_rule = np.logical_or.reduce(list(masks.values()))
    assert not any_rule[len(removed):].any(), [s for s, h in zip(kept, any_rule[len(removed):]) if h]


def test_non_ascii_strings_follow_python_re():
    masks = rule_masks(pa.array(["fièvre 3 jours", "3 días", "café 10:30", "２ days", "é3 days"]))
    # "3 días": \b\d+\s*d then "í" is a word character for Python re (no boundary) -> kept, like the reference.
    assert masks["time_expression"].tolist() == [False, False, True, True, False]


def test_ascii_whitespace_is_pythons_not_re2s():
    # Python's \s (the authors' pandas regexes) also matches \v and \x1c-\x1f; RE2's does not
    masks = rule_masks(pa.array(["3\x0bdays", "4\x1dpm", "\x1f120\x1c", "3\x7fdays"]))
    assert masks["time_expression"].tolist() == [True, True, False, False]
    assert masks["numeric"].tolist() == [False, False, True, False]


def test_plain_string_events_give_the_same_result_as_categorical():
    rows = {"hadm_id": [2, 1, 1, 1, 2], "event": ["fever", "F", "fever", "rash", "fever"],
            "time": [1.0, 0.0, 5.0, 2.0, -3.0]}
    plain, plain_counts = normalize_events(pd.DataFrame(rows))
    assert plain[["hadm_id", "time"]].values.tolist() == [[1, 2.0], [1, 5.0], [2, -3.0]]
    assert plain["event"].astype(str).tolist() == ["rash", "fever", "fever"]
    assert list(plain.columns) == ["hadm_id", "event", "time"]
    assert sorted(plain["event"].cat.categories) == ["fever", "rash"]  # unused categories ("F") dropped
    categorical, counts = normalize_events(pd.DataFrame(rows).astype({"event": "category"}))
    assert counts == plain_counts == {"input": 5, "gender": 1, "numeric": 0, "time_expression": 0, "duplicate": 1,
                                      "output": 3}
    pd.testing.assert_frame_equal(plain, categorical)


def test_earliest_occurrence_kept_per_admission():
    events = pd.DataFrame({"hadm_id": [1, 1, 1, 2], "event": pd.Categorical(["fever", "fever", "rash", "fever"]),
                           "time": [48.0, -24.0, 0.0, 5.0]})
    kept, counts = normalize_events(events)
    assert kept[["hadm_id", "time"]].values.tolist() == [[1, -24.0], [1, 0.0], [2, 5.0]]
    assert counts == {"input": 4, "gender": 0, "numeric": 0, "time_expression": 0, "duplicate": 1, "output": 3}


def test_counts_follow_recipe_order():
    events = pd.DataFrame({"hadm_id": [1] * 5, "event": pd.Categorical(["F", "120", "3 days", "fever", "fever"]),
                           "time": [0.0, 0.0, 0.0, 1.0, 2.0]})
    _, counts = normalize_events(events)
    assert (counts["gender"], counts["numeric"], counts["time_expression"], counts["duplicate"]) == (1, 1, 1, 1)


def test_equals_the_authors_recipe_on_a_fixture(tmp_path):
    rng = np.random.default_rng(3)
    vocabulary = [*CASES["gender"][0], *CASES["numeric"][0], *CASES["time_expression"][0], *CASES["gender"][1],
                  *CASES["numeric"][1], *CASES["time_expression"][1], "fever", "cough", "sepsis, resolved", "café"]
    rows = pd.DataFrame({"Hadm_id": rng.integers(1, 40, 3000), "Event": rng.choice(vocabulary, 3000),
                         "Time": rng.choice([-24.0, -1.5, 0.0, 0.0, 3.0, 48.0, 1000.0], 3000)})
    rows.to_csv(tmp_path / "release.csv", index=False)
    ours, counts = normalize_events(read_event_table(tmp_path / "release.csv"))
    reference = authors_baseline.normalize(authors_baseline.read_release(tmp_path / "release.csv"))
    as_set = lambda f, h, e, t: sorted(zip(f[h].tolist(), f[e].astype(str).tolist(), f[t].tolist()))  # noqa: E731
    assert as_set(ours, "hadm_id", "event", "time") == as_set(reference, "Hadm_id", "Event", "Time")
    # rows removed per rule, counted from the hand-written case lists: each positive case hits exactly one rule
    for rule, (positive, _) in CASES.items():
        assert counts[rule] == rows["Event"].isin(positive).sum(), rule
    survivors = rows[~rows["Event"].isin([e for positive, _ in CASES.values() for e in positive])]
    assert counts["duplicate"] == len(survivors) - len(survivors.drop_duplicates(["Hadm_id", "Event"]))
    assert counts["output"] == len(survivors.drop_duplicates(["Hadm_id", "Event"])) == len(ours)


def test_normalize_file_writes_csv_or_parquet_and_counts(tmp_path, demo_dir):
    from cts.data.normalize import normalize_file

    counts = normalize_file(demo_dir / "clinical_event_timestamp.csv", tmp_path / "new" / "n.csv")  # dir created
    assert (tmp_path / "new" / "n.csv").read_text().startswith("Hadm_id,Event,Time,Time_bin\n")
    assert counts["output"] == len(read_event_table(tmp_path / "new" / "n.csv"))
    assert json.loads((tmp_path / "new" / "n.csv.read.json").read_text())["non_numeric_time"] > 0
    assert json.loads((tmp_path / "new" / "n.csv.counts.json").read_text()) == counts
    removed = sum(counts[r] for r in ("gender", "numeric", "time_expression", "duplicate"))
    assert counts["input"] - removed == counts["output"]  # every removed row is counted under exactly one rule
    write_event_table(read_event_table(tmp_path / "new" / "n.csv"), tmp_path / "n.parquet")
    again, again_counts = normalize_events(read_event_table(tmp_path / "n.parquet"))
    assert again_counts["output"] == counts["output"]  # idempotent


def test_normalize_file_follows_the_time_policy(tmp_path):
    from cts.data.normalize import normalize_file

    source = tmp_path / "events.csv"
    source.write_text("Hadm_id,Event,Time\n1,fever,2\n1,cough,soon\n")
    dropped = normalize_file(source, tmp_path / "dropped.csv")
    kept = normalize_file(source, tmp_path / "kept.csv", time_policy="zero")
    assert (dropped["input"], dropped["output"], kept["input"], kept["output"]) == (1, 1, 2, 2)
    table = read_event_table(tmp_path / "kept.csv")
    assert sorted(zip(table["event"].astype(str), table["time"])) == [("cough", 0.0), ("fever", 2.0)]


def test_normalize_file_logs_its_steps_and_what_each_rule_removed(tmp_path, caplog, capsys):
    from cts.data.normalize import normalize_file

    source = tmp_path / "events.csv"
    source.write_text("Hadm_id,Event,Time\n1,fever,2\n1,cough,soon\n1,fever,3\n1,120,4\n")
    with caplog.at_level("INFO"):
        normalize_file(source, tmp_path / "out.csv")
    said = caplog.text + capsys.readouterr().out
    steps = [line.split(", ")[-1] for line in said.splitlines() if "normalize: " in line and " steps (" in line]
    assert steps == ["read", "apply recipe", "write", "done"]
    assert all("normalize: " in line for line in said.splitlines() if " steps (" in line)
    assert (f"normalize: 3 → 1 rows (removed: gender 0, numeric 1, time_expression 0, duplicate 1) → "
            f"{tmp_path / 'out.csv'}") in said


def test_time_expressions_ignore_case_also_in_non_ascii_events():
    events = pd.DataFrame({"hadm_id": [1, 1, 1, 1, 1], "event": ["fever 3 DAYS", "fièvre 3 DAYS", "YEARS", "fièvre",
                                                                   "fever"], "time": 0.0})
    normalized, counts = normalize_events(events)
    assert sorted(normalized["event"].astype(str)) == ["fever", "fièvre"]
    assert counts["time_expression"] == 3


def test_no_two_different_admission_event_pairs_are_taken_for_duplicates():
    # 3 admissions, 2 distinct events: (admission 0, "b") and (admission 2, "a") must stay apart
    events = pd.DataFrame({"hadm_id": [1, 2, 3], "event": ["b", "a", "a"], "time": [1.0, 2.0, 3.0]})
    normalized, counts = normalize_events(events)
    assert len(normalized) == 3 and counts["duplicate"] == 0
