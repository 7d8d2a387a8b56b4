"""Evaluation metrics on a hand-made fixture, the t2s2 reference files, and the CLI line."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from annotation_notes import ROOT_DIR
from conftest import require_shared

from cts.annotation.evaluate import evaluate, match_events
from cts.annotation.outputs import AnnotationError


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
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["matched"] == 6
    assert (tmp_path / "report" / "per_note.csv").read_text().startswith("note,predicted,reference,matched")


def test_matching_is_one_to_one_and_thresholded():
    assert match_events(["fever", "fever"], ["Fever!"], 80) == [(0, 0)]
    assert match_events(["cough"], ["fever"], 80) == []
    assert match_events(["chest pain left"], ["left chest pain"], 90) == [(0, 0)]  # word order ignored


def test_bad_inputs(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    with pytest.raises(AnnotationError, match="no such folder"):
        evaluate(tmp_path / "nope", reference)
    with pytest.raises(AnnotationError, match="scorer must be one of"):
        evaluate(predictions, reference, scorer="cosine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="no reference timelines"):
        evaluate(predictions, tmp_path / "empty")


def test_t2s2_reference_files_read_completely():
    reference = require_shared("timelines", "t2s2_sepsis10", "l33_70b_annotations")
    result = evaluate(reference, reference)["overall"]
    assert result["notes"] == 10 and result["reference"] == 779 and result["f1"] == 1.0 and result["mae_hours"] == 0
    assert result["unreadable_lines"]["reference"] == 2  # two prose lines in PMC9552858_body.bsv, counted


def test_evaluate_command_line(tmp_path):
    predictions, reference = write_fixture(tmp_path)
    done = subprocess.run(
        [sys.executable, str(ROOT_DIR / "annotate.py"), "stage=evaluate", f"predictions={predictions}",
         f"reference={reference}", f"output={tmp_path / 'report'}", "stage.threshold=90",
         f"hydra.run.dir={tmp_path / 'hydra'}"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(Path(tmp_path / "report" / "metrics.json").read_text())
    assert metrics["threshold"] == 90 and metrics["notes"] == 3
