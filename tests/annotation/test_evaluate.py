"""Evaluation: optimal matching, the opposite guard, metrics and their bootstrap intervals on hand-made fixtures,
the t2s2 reference files, and the CLI line."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from rapidfuzz import fuzz

import cts  # noqa: F401  (registers ${cts.or:...})
from cts.annotation.evaluate import (
    hour_errors,
    load_timelines,
    match_events,
    normalize,
    overall_samples,
    read_timeline,
    score,
    score_table,
    table_timelines,
)
from cts.annotation.outputs import AnnotationError
from cts.reports.evaluation import evaluate
from tests.shared_data import require_shared

from .helpers import ROOT_DIR

METRIC_KEYS = {"precision", "recall", "f1", "mae_hours", "median_ae_hours", "sign_agreement", "order_concordance",
               "matched", "predicted", "reference"}


def write_fixture(tmp_path):
    reference, predictions = tmp_path / "reference", tmp_path / "predictions"
    reference.mkdir(), predictions.mkdir()
    (reference / "PMC111_body.bsv").write_text(
        "fever | -48\nrash | -48\nsepsis | 0\nintubation | 24\ndischarge | 120\n")
    (reference / "PMC222_body.bsv").write_text("a line | 0\nb line | 10\n")
    (reference / "PMC333_body.bsv").write_text("only event | 5\n")
    events = [("Fever", -24), ("Rash.", -48), ("Intubation", -30), ("headache", 5), ("Discharge", 96)]
    (predictions / "111.json").write_text(json.dumps({
        "manifest": {"kind": "events", "hadm_id": 111},
        "events": [{"event": e, "time": t} for e, t in events]}))
    (predictions / "222.bsv").write_text("1. A line | 5\n2. B line | 5 hours\n")
    return predictions, reference


def test_metrics_on_a_hand_made_fixture(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    result = evaluate(predictions, reference, output=tmp_path / "report")
    notes = {row["note"]: row for row in result["per_note"]}
    first = notes["111"]
    assert (first["matched"], first["precision"], first["recall"], first["f1"]) == (4, 0.8, 0.8, pytest.approx(0.8))
    assert first["mae_hours"] == 25.5 and first["median_ae_hours"] == 24 and first["sign_agreement"] == 0.75
    assert first["order_concordance"] == 0.8  # 4 of the 5 pairs with different reference times
    assert notes["222"]["order_concordance"] == 0.5  # a predicted tie counts half
    assert notes["333"]["recall"] == 0 and math.isnan(notes["333"]["mae_hours"])
    overall = result["overall"]
    assert overall["precision"] == pytest.approx(6 / 7) and overall["recall"] == pytest.approx(6 / 8)
    assert overall["mae_hours"] == pytest.approx((24 + 0 + 54 + 24 + 5 + 5) / 6)
    assert overall["order_concordance"] == pytest.approx((4 + 0.5) / 6)
    assert overall["missing_predictions"] == ["333"]
    assert overall["unreadable_lines"] == {"predictions": 0, "reference": 0}
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert METRIC_KEYS <= set(written) and (written["matched"], written["predicted"], written["reference"]) == (6, 7, 8)
    assert set(written["ci95"]) == {"precision", "recall", "f1", "macro_f1", "mae_hours", "sign_agreement",
                                    "order_concordance"}
    for name, (lo, hi) in written["ci95"].items():
        assert lo <= written[name] <= hi, name
    per_note = (tmp_path / "report" / "per_note.csv").read_text().splitlines()
    assert per_note[0].startswith("note,predicted,reference,matched") and len(per_note) == 4
    assert per_note[3].startswith("333,0,1,0,")


def test_matching_is_one_to_one_and_thresholded():
    assert match_events(["fever", "fever"], ["Fever!"], 80) == [(0, 0)]
    assert match_events(["cough"], ["fever"], 80) == []
    assert fuzz.token_sort_ratio("abcd", "abce") == 75  # 2 · 3 common / 8 characters: exactly at the threshold
    assert match_events(["abcd"], ["abce"], 75) == [(0, 0)] and match_events(["abcd"], ["abce"], 75.01) == []
    assert match_events(["chest pain left"], ["left chest pain"], 90) == [(0, 0)]  # word order ignored


def test_matching_is_optimal_not_greedy():
    # greedy takes the identical pair first and leaves "renal failures"~"acute renal failure" (79) below 80
    assert fuzz.token_sort_ratio("renal failures", "acute renal failure") < 80
    pairs = match_events(["renal failure", "renal failures"], ["renal failure", "acute renal failure"], 80)
    assert pairs == [(0, 1), (1, 0)]


def test_highest_total_similarity_among_equally_many_pairs():
    # similarities [[66.7, 55.6], [66.7, 50.0]]: the best single pair first (greedy) totals 116.7, the optimum 122.3
    predicted, reference = ["fever", "fever spike"], ["high fever", "fevers chills"]
    assert match_events(predicted, reference, 50) == [(0, 1), (1, 0)]


def test_repeated_names_pair_by_time(tmp_path):
    (tmp_path / "ref").mkdir(), (tmp_path / "pred").mkdir()
    (tmp_path / "ref" / "1.bsv").write_text("fever | 48\nrash | 3\nfever | 2\nfever | -100\n")
    (tmp_path / "pred" / "1.bsv").write_text("fever | -90\nfever | 0\nrash | 3\nfever | 50\n")
    assert match_events(["fever", "fever", "rash", "fever"], ["fever", "rash", "fever", "fever"], 80,
                        predicted_hours=[-90, 0, 3, 50], reference_hours=[48, 3, 2, -100]) == [
        (0, 3), (1, 2), (2, 1), (3, 0)]
    overall = evaluate(tmp_path / "pred", tmp_path / "ref", n_resamples=10)["overall"]
    assert overall["mae_hours"] == pytest.approx((10 + 2 + 0 + 2) / 4) and overall["order_concordance"] == 1


@pytest.mark.parametrize("predicted, reference", [
    ("hypotension", "hypertension"), ("hyperkalemia", "hypokalemia"), ("hyperglycemia", "hypoglycemic"),
    ("no chest pain", "chest pain"), ("denies chest pain", "chest pain"), ("without fever", "fever"),
    ("negative for covid 19", "covid 19"), ("type 1 diabetes", "type 2 diabetes"),
    ("type I diabetes mellitus", "diabetes mellitus type 2"), ("left hip fracture", "right hip fracture"),
    ("increased creatinine", "decreased creatinine"), ("elevated lactate", "low lactate"),
])
def test_opposites_never_match(predicted, reference):
    assert match_events([predicted], [reference], 50) == []
    assert match_events([reference], [predicted], 50) == []
    assert match_events([predicted], [predicted], 50) == [(0, 0)]


@pytest.mark.parametrize("predicted, reference", [
    ("no fever", "no fevers"), ("type 2 diabetes mellitus", "diabetes mellitus type II"),
    ("hypertension", "hypertensive"), ("left hip fracture", "fracture of left hip"),
    ("elevated troponin", "troponin increased"), ("chest pain", "chest pains"),
])
def test_guard_keeps_agreeing_wordings(predicted, reference):
    assert fuzz.token_sort_ratio(normalize(predicted), normalize(reference)) >= 70
    assert match_events([predicted], [reference], 70) == [(0, 0)]


def test_interval_over_notes_matches_the_binomial(tmp_path):
    """100 notes of one reference event, half of them found: recall is a mean of 100 Bernoulli(0.5) notes, so its
    95% interval is about 0.5 ± 1.96·sqrt(0.25 / 100) = [0.402, 0.598]."""
    (tmp_path / "ref").mkdir(), (tmp_path / "pred").mkdir()
    for note in range(100):
        (tmp_path / "ref" / f"{note}.bsv").write_text("sepsis | 0\n")
        if note % 2:
            (tmp_path / "pred" / f"{note}.bsv").write_text(f"sepsis | {note % 4}\n")  # errors 1 or 3 hours
    overall = evaluate(tmp_path / "pred", tmp_path / "ref", n_resamples=2000, seed=3)["overall"]
    assert overall["recall"] == 0.5 and overall["precision"] == 1 and overall["f1"] == pytest.approx(2 / 3)
    lo, hi = overall["ci95"]["recall"]
    assert lo == pytest.approx(0.402, abs=0.025) and hi == pytest.approx(0.598, abs=0.025)
    assert overall["ci95"]["precision"] == [1.0, 1.0]
    # MAE: 25 errors of 1 h and 25 of 3 h, a mean of 2 with standard error about 1 / sqrt(50) = 0.14
    assert overall["mae_hours"] == 2 and overall["ci95"]["mae_hours"][0] == pytest.approx(2 - 0.28, abs=0.06)
    assert overall["ci95"]["order_concordance"] == [None, None]  # one event per note: no pairs to order


def test_default_reference_is_not_outside_the_repository(tmp_path):
    conf = ROOT_DIR / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("annotate", overrides=["stage=evaluate"])
    assert cfg.stage.reference is None
    (tmp_path / "pred").mkdir()
    with pytest.raises(AnnotationError, match="needs reference=DIR"):
        evaluate(tmp_path / "pred", cfg.stage.reference)


def test_bad_inputs(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    with pytest.raises(AnnotationError, match="no such folder"):
        evaluate(tmp_path / "nope", reference)
    with pytest.raises(AnnotationError, match="scorer must be one of"):
        evaluate(predictions, reference, scorer="cosine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="no reference timelines"):
        evaluate(predictions, tmp_path / "empty")


def test_t2s2_reference_against_itself_reversed(tmp_path):
    """Each reference file with its lines reversed: names repeat within notes, so pairing by list position (the old
    greedy matcher) gave MAE 15.2 h; pairing equal names by time gives exactly 0."""
    reference = require_shared("timelines", "t2s2_sepsis10", "l33_70b_annotations")
    reversed_dir = tmp_path / "reversed"
    reversed_dir.mkdir()
    for path in reference.glob("*.bsv"):
        lines = path.read_text(encoding="utf-8").splitlines()
        (reversed_dir / path.name).write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    result = evaluate(reversed_dir, reference, n_resamples=200)["overall"]
    assert result["notes"] == 10 and result["reference"] == 779 and result["matched"] == 779
    assert (result["f1"], result["mae_hours"], result["order_concordance"], result["sign_agreement"]) == (1, 0, 1, 1)
    assert result["unreadable_lines"] == {"predictions": 2, "reference": 2}  # two prose lines, counted
    assert result["ci95"]["f1"] == [1.0, 1.0]


@pytest.mark.e2e
def test_evaluate_command_line(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    done = subprocess.run(
        [sys.executable, str(ROOT_DIR / "annotate.py"), "stage=evaluate", f"predictions={predictions}",
         f"reference={reference}", f"output={tmp_path / 'report'}", "stage.threshold=90",
         f"hydra.run.dir={tmp_path / 'hydra'}"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(Path(tmp_path / "report" / "metrics.json").read_text())
    assert metrics["threshold"] == 90 and metrics["notes"] == 3


def test_empty_timelines_and_strict_json(tmp_path):
    """A note where both sides say "none" is perfect; a prediction where nothing was expected is all wrong; with
    no matched event the time metrics are null in metrics.json (strict JSON), not NaN."""
    (tmp_path / "ref").mkdir(), (tmp_path / "pred").mkdir()
    for note in (1, 2):
        (tmp_path / "ref" / f"{note}.bsv").write_text("none\n")
    (tmp_path / "pred" / "1.bsv").write_text("none\n")
    (tmp_path / "pred" / "2.bsv").write_text("fever | 0\n")
    result = evaluate(tmp_path / "pred", tmp_path / "ref", tmp_path / "report", n_resamples=20)
    notes = {row["note"]: row for row in result["per_note"]}
    assert (notes["1"]["precision"], notes["1"]["recall"], notes["1"]["f1"]) == (1, 1, 1)
    assert (notes["2"]["precision"], notes["2"]["recall"], notes["2"]["f1"]) == (0, 0, 0)
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert (written["precision"], written["recall"], written["f1"], written["macro_f1"]) == (0, 0, 0, 0.5)
    assert written["mae_hours"] is None and written["median_ae_hours"] is None and written["sign_agreement"] is None
    assert written["ci95"]["mae_hours"] == [None, None]


def test_time_metrics_are_printed_with_the_recall_they_cover(tmp_path, caplog, capsys):
    predictions, reference = write_fixture(tmp_path)
    with caplog.at_level("INFO"):
        evaluate(predictions, reference, n_resamples=50)
    line = caplog.text + capsys.readouterr().out
    assert "time metrics on the 6 matched of 8 reference events (recall 0.750): MAE 18.667 [" in line
    assert "precision 0.857 [" in line and "median AE 14.500 h" in line


def test_which_files_of_a_folder_are_timelines(tmp_path):
    """Keyed by the first integer of the name; for one note ``.json`` wins over ``.bsv`` over ``.csv``; hidden
    files, other suffixes, folders and names without a number are not timelines."""
    (tmp_path / "5.bsv").write_text("from bsv | 1\n")
    (tmp_path / "5.json").write_text(json.dumps({"manifest": {"kind": "events", "hadm_id": 5},
                                                    "events": [{"event": "from json", "time": 2}]}))
    (tmp_path / "note_6.csv").write_text("event,time\nfrom csv,3\nbad time,soon\n")
    (tmp_path / "6.txt").write_text("from txt | 4\n")
    (tmp_path / ".7.bsv").write_text("hidden | 5\n")
    (tmp_path / "8.bsv").mkdir()
    (tmp_path / "events.csv").write_text("event,time\nx,1\n")
    assert load_timelines(tmp_path) == {"5": ([("from json", 2.0)], 0), "6": ([("from csv", 3.0)], 1)}
    (tmp_path / "9.csv").write_text("what,when\nx,1\n")
    with pytest.raises(AnnotationError, match="9.csv: expected columns 'event,time'"):
        load_timelines(tmp_path)


def test_similarity_outranks_time_and_hours_on_one_side_only_are_ignored():
    # "chest pain" is the closer text, "chest pains" the closer time: the similarity decides, the time only breaks ties
    assert fuzz.token_sort_ratio("chest pain", "chest pains") < 100
    assert match_events(["chest pain"], ["chest pains", "chest pain"], 80.0,
                        predicted_hours=[10.0], reference_hours=[10.0, -50.0]) == [(0, 1)]
    assert match_events(["fever"], ["fever", "fever"], 80.0, predicted_hours=[9.0], reference_hours=[0.0, 10.0]) == [
        (0, 1)]
    assert match_events(["fever"], ["fever", "fever"], 80.0, predicted_hours=[9.0]) == [(0, 0)]


def test_hour_errors_of_no_match_is_empty():
    hours, errors = hour_errors([])
    assert hours.shape == (0, 2) and errors.shape == (0,)
    hours, errors = hour_errors([np.array([[1.0, 4.0]]), np.array([[-2.0, -2.5], [0.0, 0.0]])])
    assert hours.tolist() == [[1.0, 4.0], [-2.0, -2.5], [0.0, 0.0]] and errors.tolist() == [3.0, 0.5, 0.0]


def test_table_timelines_keeps_the_predicted_admissions_with_their_events_and_hours(tmp_path):
    table = tmp_path / "events.csv"
    table.write_text("Hadm_id,Event,Time\n3,rash,-2.5\n1,fever,0\n3,cough,4\n2,pain,1\n1,sepsis,12\n")
    found = table_timelines(table, {"1": None, "3": None, "9": None})
    assert set(found) == {"1", "3"}
    assert found["1"] == ([("fever", 0.0), ("sepsis", 12.0)], 0)
    assert found["3"] == ([("rash", -2.5), ("cough", 4.0)], 0)
    assert all(type(hours) is float for events, _ in found.values() for _, hours in events)


def test_normalize_folds_case_punctuation_and_runs_of_spaces():
    assert normalize("  Fever,  chills!\t(High) ") == "fever chills high"
    assert normalize("Rash.") == "rash"


def test_hypo_and_hyper_of_one_five_letter_stem_are_opposites():
    # "tension" and "tensive" share their first five letters: the same axis, so hypo- and hyper- contradict
    assert fuzz.token_sort_ratio("hypotension", "hypertensive") >= 50
    assert match_events(["hypotension"], ["hypertensive"], 50) == []
    assert match_events(["hypertension"], ["hypertensive"], 50) == [(0, 0)]


@pytest.mark.parametrize("said, silent", [("right hip fracture", "hip fracture"), ("left hip fracture", "hip fracture"),
                                          ("decreased creatinine", "creatinine"), ("type 2 diabetes", "diabetes"),
                                          ("hyperkalemia", "kalemia")])
def test_a_text_silent_on_an_axis_is_no_opposite_of_either_side(said, silent):
    assert match_events([said], [silent], 50) == [(0, 0)]
    assert match_events([silent], [said], 50) == [(0, 0)]


def test_most_pairs_first_even_at_the_cost_of_identical_pairs():
    """At threshold 30 all four predicted events can be matched, but only by pairing "chest" with "headache" and
    "sepsis" with "chest": four weaker pairs beat three identical ones."""
    predicted, reference = ["renal failure", "chest", "sepsis", "headache"], ["renal failure", "chest", "headache",
                                                                              "shock"]
    pairs = match_events(predicted, reference, 30)
    assert len(pairs) == 4
    assert all(fuzz.token_sort_ratio(predicted[i], reference[j]) >= 30 for i, j in pairs)
    assert pairs == [(0, 0), (1, 2), (2, 1), (3, 3)]


def test_a_json_output_without_events_is_an_empty_timeline(tmp_path):
    (tmp_path / "1.json").write_text(json.dumps({"manifest": {"kind": "events", "hadm_id": 1}}))
    assert read_timeline(tmp_path / "1.json") == ([], 0)


def test_a_csv_timeline_reads_numeric_times_quoted_events_and_spaces_after_commas(tmp_path):
    path = tmp_path / "2.csv"
    path.write_text('Time, Event\n-2, "fever, chills"\n5, rash\n+1.5,  cough \nlater, pain\n')
    assert read_timeline(path) == ([("fever, chills", -2.0), ("rash", 5.0), ("cough", 1.5)], 1)
    path.write_text("event,time\n1,2\n3,-4\n")  # a column of numbers is still read as text: event "1", not 1
    assert read_timeline(path) == ([("1", 2.0), ("3", -4.0)], 0)


def write_table_fixture(tmp_path):
    predictions = tmp_path / "pred"
    predictions.mkdir()
    (predictions / "1.bsv").write_text("fever | 0\nrash | 5\n")
    (predictions / "3.bsv").write_text("cough | 4\n")
    (predictions / "9.bsv").write_text("pain | 1\n")
    table = tmp_path / "events.csv"
    table.write_text("hadm_id,event,time\n3,cough,2\n1,fever,0\n2,pain,1\n1,sepsis,12\n")
    return predictions, table


def test_score_against_an_event_table_scores_only_the_annotated_admissions(tmp_path, caplog, capsys):
    predictions, table = write_table_fixture(tmp_path)
    with caplog.at_level("INFO"):
        overall, per_note, hours = score(predictions, table, n_resamples=20)
    out = caplog.text + capsys.readouterr().out
    assert f"reference table {table}: scoring the 2 of its admissions that have predictions" in out
    assert "(1 predicted admissions are not in the table)" in out
    assert sorted(per_note["note"]) == ["1", "3"]  # admission 2 was not annotated: not charged
    assert (overall["notes"], overall["predicted"], overall["reference"], overall["matched"]) == (2, 3, 3, 2)
    assert overall["unreferenced_predictions"] == 1 and overall["missing_predictions"] == []
    assert sorted(hours.tolist()) == [[0.0, 0.0], [4.0, 2.0]]
    assert overall["mae_hours"] == 1.0


def test_score_reports_its_settings_and_their_defaults(tmp_path):
    predictions, table = write_table_fixture(tmp_path)
    overall, _, _ = score(predictions, table)
    assert (overall["threshold"], overall["scorer"]) == (80.0, "token_sort_ratio")
    assert overall["bootstrap"] == {"unit": "note", "resamples": 1000, "seed": 0, "level": 0.95}
    overall, _, _ = score(predictions, table, threshold=90.0, scorer="ratio", n_resamples=30, seed=4)
    assert (overall["threshold"], overall["scorer"]) == (90.0, "ratio")
    assert overall["bootstrap"] == {"unit": "note", "resamples": 30, "seed": 4, "level": 0.95}
    # "fevers" is 91 similar to "fever" by ratio, not 100: a threshold of 95 leaves it
    (predictions / "1.bsv").write_text("fevers | 0\n")
    assert score(predictions, table, threshold=90.0, n_resamples=5)[0]["matched"] == 2
    assert score(predictions, table, threshold=95.0, n_resamples=5)[0]["matched"] == 1


def test_the_bootstrap_draws_the_asked_resamples_from_the_asked_seed(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    _, per_note, _ = score(predictions, reference, n_resamples=5)
    assert list(per_note.columns[:4]) == ["note", "predicted", "reference", "matched"]
    samples = overall_samples(per_note, n_resamples=40, seed=1)
    assert samples["recall"].shape == (41,) and samples["recall"][0] == pytest.approx(6 / 8)  # row 0: every note
    assert np.array_equal(samples["recall"], overall_samples(per_note, n_resamples=40, seed=1)["recall"])
    assert not np.array_equal(samples["recall"], overall_samples(per_note, n_resamples=40, seed=2)["recall"])
    assert list(score_table([]).columns) == list(per_note.columns)
