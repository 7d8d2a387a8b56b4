"""Selection rules (top_k, budget, short notes whole), merged passages, smoothed scores, and the coverage-per-token
curve of ``stage=coverage`` on a hand-made note."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cts.data.notes import Note
from cts.retrieval.chunking import Chunker, terms
from cts.retrieval.coverage import Policy, coverage_curve, note_curve, policies, run_coverage, summarize
from cts.retrieval.fusion import smooth
from cts.retrieval.passages import Selection, merge, passage_of, passages, windows
from cts.retrieval.retriever import Retriever

from .helpers import NOTE, QUERIES

ROOT = Path(__file__).resolve().parents[2]
FILLER = "The patient was comfortable and the family visited in the afternoon. " * 12
LONG = NOTE.replace("Discharge Instructions:", f"Hospital Course:\n{FILLER}\nHe developed fever and was given "
                    f"vancomycin.\n{FILLER}\nDischarge Instructions:")


def test_merge_joins_overlapping_and_touching_ranges_only():
    starts, ends = merge(np.array([30, 0, 8, 10, 50]), np.array([40, 10, 12, 15, 60]))
    assert starts.tolist() == [0, 30, 50] and ends.tolist() == [15, 40, 60]  # [0,10)+[8,12)+[10,15) touch
    assert [a.tolist() for a in merge(np.array([], dtype=int), np.array([], dtype=int))] == [[], []]


def test_smoothing_prefers_a_chunk_amid_matches_over_an_isolated_one():
    score = np.array([0, 0, 5, 0, 0, 0, 3, 3, 3, 0.0])
    eligible = score > 0
    smoothed, near = smooth(score, eligible, 1)
    assert smoothed[7] > smoothed[2]  # 3 among 3s beats a lone 5
    assert near.tolist() == [False, True, True, True, False, True, True, True, True, True]
    wide, wide_eligible = smooth(score, eligible, 16)  # wider than the note
    assert len(wide) == len(score) and wide_eligible.all() and np.allclose(wide, score.sum() / 33)
    same, same_eligible = smooth(score, eligible, 0)
    assert same is score and same_eligible is eligible


def test_budget_keeps_best_chunks_until_their_passages_reach_the_share_of_tokens():
    chunks = Chunker()(LONG)
    score = np.linspace(1, 2, len(chunks))  # later chunks first
    eligible = np.ones(len(chunks), dtype=bool)
    for budget in (0.1, 0.3, 0.6):
        kept = Selection(budget=budget).keep(chunks, score, eligible)
        starts, ends = passages(chunks, kept)
        assert (ends - starts).sum() <= budget * chunks.n_tokens  # never over the budget...
        more = passages(chunks, Selection(budget=budget).keep(chunks, score, eligible)[:-1])
        assert (more[1] - more[0]).sum() < (ends - starts).sum()
        assert kept.tolist() == np.argsort(-score)[: len(kept)].tolist()  # ...and best first
    # the best chunk is kept even when its window alone is over the budget
    assert Selection(budget=0.001).keep(chunks, score, eligible).tolist() == [len(chunks) - 1]
    assert Selection(top_k=2, budget=0.9).keep(chunks, score, eligible).tolist() == [len(chunks) - 1,
                                                                                    len(chunks) - 2]


def test_a_short_note_keeps_every_chunk_and_its_passage_is_the_whole_note():
    chunks = Chunker()(NOTE)
    score = np.zeros(len(chunks))
    score[3] = 1
    eligible = score > 0
    short = Selection(top_k=1, budget=0.1, whole_note_tokens=chunks.n_tokens)
    kept = short.keep(chunks, score, eligible)
    assert kept[0] == 3 and sorted(kept.tolist()) == list(range(len(chunks)))
    start, end = passage_of(chunks, kept)
    assert set(zip(start.tolist(), end.tolist())) == {(0, len(NOTE))}
    assert Selection(top_k=1, whole_note_tokens=chunks.n_tokens - 1).keep(chunks, score, eligible).tolist() == [3]
    # a kept chunk inside the note: its passage is its window, as character offsets into the text
    start, end = passage_of(chunks, np.array([3]))
    first, last = windows(chunks)
    assert (start[0], end[0]) == (chunks.tok_start[first[3]], chunks.tok_end[last[3] - 1])


@pytest.mark.parametrize("bad, message", [({"budget": 0}, "retrieval.budget must be in"),
                                          ({"budget": 1.5}, "retrieval.budget must be in"),
                                          ({"top_k": 0}, "retrieval.top_k must be"),
                                          ({"whole_note_tokens": -1}, "retrieval.whole_note_tokens must be")])
def test_bad_selection_settings_are_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        Retriever(mode="bm25", queries=QUERIES, **bad)
    with pytest.raises(ValueError, match="retrieval.smooth_chunks must be"):
        Retriever(mode="bm25", queries=QUERIES, smooth_chunks=-1)


def test_note_curve_counts_events_reaching_the_llm_against_tokens_sent():
    retriever = Retriever(mode="bm25", queries=QUERIES, top_k=None)
    note = Note("1-DS-1", 1, LONG)
    ranked = retriever.rank([retriever.lexical(note, Chunker()(LONG))])[0]
    events = [terms(e) for e in ("chest pain", "aspirin", "fever", "vancomycin", "troponin elevated",
                                 "pneumothorax")]
    grid = [Policy("top1 windows", Selection(top_k=1), merged=False), Policy("top1", Selection(top_k=1)),
            Policy("all windows", Selection(top_k=None), merged=False), Policy("half", Selection(budget=0.5)),
            Policy("whole note", None)]
    rows = {r["policy"]: r for r in note_curve(ranked, events, grid)}
    whole = rows["whole note"]
    assert whole["ceiling"] == whole["covered"] == 5 and whole["tokens_sent"] == whole["note_tokens"]
    assert rows["top1 windows"]["tokens_sent"] == rows["top1"]["tokens_sent"] <= 15
    all_windows = rows["all windows"]  # every matched chunk, windows sent one by one: overlaps paid many times
    assert all_windows["tokens_sent"] > whole["tokens_sent"] and all_windows["covered"] <= 5
    assert rows["half"]["tokens_sent"] <= 0.5 * whole["note_tokens"]
    assert 0 < rows["top1"]["covered"] <= rows["half"]["covered"] <= 5


def test_coverage_curve_summary_has_intervals_and_counts(tmp_path):
    retriever = Retriever(mode="bm25", queries=QUERIES, top_k=None, budget=0.5)
    notes = [Note(f"{i}-DS-1", i, LONG if i % 2 else NOTE) for i in range(1, 5)]
    reference = {1: ["chest pain", "fever"], 2: ["aspirin", "___"], 3: ["vancomycin"], 4: ["heparin"], 9: ["x"]}
    frame, counts = coverage_curve(notes, reference, retriever, Chunker(), policies(top_ks=(1,), budgets=(0.5,)))
    assert counts == {"events_without_terms": 1, "notes_missing": 1}
    summary = {r["policy"]: r for r in summarize(frame, n_resamples=200)}
    assert list(summary) == ["top_k=1 windows", "top_k=1 passages", "budget=0.5 passages", "whole note"]
    whole = summary["whole note"]
    assert whole["relative_coverage"] == 1 and whole["token_share"] == 1 and whole["notes"] == 4
    lo, hi = summary["budget=0.5 passages"]["ci95"]["relative_coverage"]
    assert lo <= summary["budget=0.5 passages"]["relative_coverage"] <= hi


@pytest.mark.e2e
def test_stage_coverage_prints_the_curve_and_writes_it(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "101.txt").write_text(LONG)
    (notes / "102.txt").write_text(NOTE)
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "101.bsv").write_text("chest pain | 0\nfever | 48\nvancomycin | 48\n")
    (reference / "102.bsv").write_text("aspirin | 0\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    result = subprocess.run([sys.executable, "preprocess.py", "stage=coverage", f"input={notes}",
                             f"reference={reference}", "retrieval=bm25", f"hydra.run.dir={tmp_path}/run"],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    report = json.loads((tmp_path / "notes.coverage.json").read_text())
    curve = {r["policy"]: r for r in report["curve"]}
    assert report["notes"] == 2 and curve["whole note"]["relative_coverage"] == 1
    configured = next(r for name, r in curve.items() if name.startswith("configured"))
    assert "budget=0.5" in configured["policy"] and "smooth" not in configured["policy"]
    assert report["retrieval"]["smooth_chunks"] == 16 and report["retrieval"]["budget"] == 0.5
    assert "rel. coverage" in result.stderr + result.stdout and "vancomycin" not in result.stderr + result.stdout
    other = tmp_path / "other.csv"
    other.write_text("Hadm_id,Event,Time\n7,fever,0\n")
    with pytest.raises(ValueError, match="no note has reference events"):
        run_coverage(notes, other, Retriever(mode="bm25", queries=QUERIES), Chunker(), output=tmp_path / "x.json")
