"""Coverage metric on a hand-made fixture, reference loaders, and the real T2S2 sample (when ../shared is here)."""

import json

import numpy as np
import pandas as pd
import pytest

from cts.retrieval.chunking import Chunker, terms
from cts.retrieval.coverage import coverage, found_at_rank, load_reference, run_coverage
from tests.shared_data import require_shared


def test_found_at_rank_is_the_best_window_holding_the_event():
    windows = [terms("nursing facility follow up"), terms("crushing chest pains since morning"),
               terms("given aspirin and heparn in the ED")]
    events = [terms(e) for e in ["chest pain", "heparin", "aspirin heparin", "acute kidney injury", "pain aspirin"]]
    found = found_at_rank(events, windows)
    # plural and typo match fuzzily; two terms of one event must sit in the same window
    assert found.tolist() == [2, 3, 3, np.inf, np.inf]
    assert found_at_rank(events, windows, token_share=0.5).tolist() == [2, 3, 3, np.inf, 2]
    assert found_at_rank(events, windows, threshold=100).tolist()[:2] == [np.inf, np.inf]
    assert found_at_rank(events, []).tolist() == [np.inf] * 5


def test_coverage_against_k_and_share_kept():
    candidates = pd.DataFrame({
        "hadm_id": [1, 1, 1, 2],
        "rank": [1, 2, 3, 1],
        "context": ["chest pain", "aspirin daily", "nursing facility", "sepsis"],
        "n_chunks": [10, 10, 10, 4],
    })
    reference = {1: ["chest pain", "aspirin", "pneumonia", "the"], 2: ["sepsis"], 3: ["fever"]}
    result = coverage(candidates, reference, ks=[1, 2])
    by_k = {r["k"]: r for r in result["by_k"]}
    assert result["notes"] == 2 and result["notes_missing"] == 1 and result["events_without_terms"] == 1
    assert result["events"] == 4
    assert by_k[1]["coverage"] == pytest.approx(2 / 4) and by_k[2]["coverage"] == pytest.approx(3 / 4)
    assert by_k[1]["share_kept"] == pytest.approx((1 / 10 + 1 / 4) / 2)
    assert by_k["all"]["share_kept"] == pytest.approx((3 / 10 + 1 / 4) / 2)


def test_reference_loaders(tmp_path):
    folder = tmp_path / "annotations"
    folder.mkdir()
    (folder / "PMC123_body.bsv").write_text("Here is the table of clinical events:\n\n60 years old | 0\nfever | -24\n")
    assert load_reference(folder) == {123: ["60 years old", "fever"]}  # the LLM's prose line is not an event
    (folder / "body.bsv").write_text("fever | 0\n")
    with pytest.raises(ValueError, match="body.bsv: no admission/note number in the file name"):
        load_reference(folder)
    table = tmp_path / "events.csv"
    table.write_text("Hadm_id,Event,Time\n7,fever,0\n7,cough,-\n8,sepsis,3\n")
    assert load_reference(table) == {7: ["fever", "cough"], 8: ["sepsis"]}
    with pytest.raises(FileNotFoundError, match="no \\*.bsv reference files"):
        load_reference(_empty(tmp_path))


def _empty(tmp_path):
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_t2s2_sample_coverage_curve_with_bm25(tmp_path, bm25_retriever):  # noqa: F811
    t2s2 = require_shared("timelines", "t2s2_sepsis10")
    report = run_coverage(t2s2 / "body", t2s2 / "l33_70b_annotations", bm25_retriever, Chunker(),
                          output=tmp_path / "t2s2.coverage.json", top_ks=[10, None], budgets=[0.5])
    # the files hold 779 events (and 2 prose lines, which are not events): each is scored or counted as term-less
    assert report["notes"] == 10 and report["notes_missing"] == 0
    curve = {r["policy"]: r for r in report["curve"]}
    assert curve["whole note"]["events"] + report["events_without_terms"] == 779
    ceiling = curve["whole note"]["ceiling"]
    assert 0 < ceiling < curve["whole note"]["events"]  # silver events are paraphrased: not all are findable
    assert 0 < curve["top_k=10 passages"]["relative_coverage"] < curve["budget=0.5 passages"]["relative_coverage"]
    assert curve["budget=0.5 passages"]["token_share"] <= 0.5
    merged, one_by_one = curve["top_k=all passages"], curve["top_k=all windows"]
    assert merged["covered"] == one_by_one["covered"] and merged["token_share"] < one_by_one["token_share"]
    written = json.loads((tmp_path / "t2s2.coverage.json").read_text())
    assert written["curve"] == report["curve"]
