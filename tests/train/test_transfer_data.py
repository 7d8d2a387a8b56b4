"""PubMedQA and trial-matching loaders on the vendored fixtures (and on ../shared/data when present): round trips,
fold arithmetic, topic splits, bad input, per-topic ranking metrics on a hand-computed example, BM25."""

import json
from pathlib import Path

import numpy as np
import pytest

from cts.bootstrap import ClusterBootstrap
from cts.retrieval.bm25 import document_scores
from cts.tasks.pubmedqa.load import LABELS, PubMedQAError, fold_splits, read_pqal, read_splits
from cts.tasks.trials.load import (
    SkipReport,
    TrialsDataError,
    candidate_pairs,
    judged_pairs,
    read_corpus,
    read_qrels,
    read_topics,
    split_topics,
    topic_folds,
)
from cts.tasks.trials.ranking import per_topic, ranking_statistics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PUBMEDQA, TRIALS = FIXTURES / "pubmedqa", FIXTURES / "trials"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_pubmedqa_round_trip_and_fold_arithmetic():
    items = read_pqal(PUBMEDQA / "ori_pqal.json")
    raw = json.loads((PUBMEDQA / "ori_pqal.json").read_text())
    assert len(items) == len(raw) == 36 and set(items["label_name"]) == set(LABELS)
    first = items.iloc[0]
    assert first["question"] == raw[first["pmid"]]["QUESTION"]
    assert first["context"] == " ".join(raw[first["pmid"]]["CONTEXTS"])
    splits = read_splits(PUBMEDQA / "pqal_splits.json")
    vals = []
    for fold in range(10):
        parts = fold_splits(items, splits, fold)
        train, val, test = (set(parts[s]["pmid"]) for s in ("train", "val", "test"))
        assert test == set(splits["test"]) and not test & (train | val)  # never train or validate on test items
        assert not train & val and val == set(splits["cv_folds"][fold])
        assert len(train) == 27 and len(val) == 3  # the other nine folds / this fold
        vals.append(val)
    assert set().union(*vals) == {p for fold in splits["cv_folds"] for p in fold}  # every CV item validated once
    assert sum(map(len, vals)) == 30  # folds disjoint


def test_pubmedqa_bad_input_names_file_pmid_and_field(tmp_path):
    broken = tmp_path / "ori_pqal.json"
    broken.write_text('{"1": {"QUESTION": "q",\n "CONTEXTS": [}')
    with pytest.raises(PubMedQAError, match=r"ori_pqal.json: not valid JSON at line 2"):
        read_pqal(broken)
    broken.write_text(json.dumps({"7": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "probably"}}))
    with pytest.raises(PubMedQAError, match=r"PMID 7, field 'final_decision': unknown label 'probably'"):
        read_pqal(broken)
    broken.write_text(json.dumps({"7": {"QUESTION": "q", "final_decision": "yes"}}))
    with pytest.raises(PubMedQAError, match=r"PMID 7, field 'CONTEXTS': missing"):
        read_pqal(broken)
    overlap = tmp_path / "splits.json"
    overlap.write_text(json.dumps({"test": ["1"], "cv_folds": [["2"], ["1"]]}))
    with pytest.raises(PubMedQAError, match=r"PMID 1 is in cv_folds\[1\] and in test"):
        read_splits(overlap)
    items = read_pqal(PUBMEDQA / "ori_pqal.json")
    with pytest.raises(PubMedQAError, match=r"data.fold=10: .* has folds 0..9"):
        fold_splits(items, read_splits(PUBMEDQA / "pqal_splits.json"), 10)


@pytest.mark.skipif(not (SHARED / "pubmedqa").is_dir(), reason="../shared/data/pubmedqa not present")
def test_published_pqal_protocol():
    items = read_pqal(SHARED / "pubmedqa" / "ori_pqal.json")
    splits = read_splits(SHARED / "pubmedqa" / "pqal_splits.json")
    assert len(items) == 1000 and items["label_name"].value_counts().to_dict() == {"yes": 552, "no": 338, "maybe": 110}
    parts = fold_splits(items, splits, 4)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [450, 50, 500]
    truth = json.loads((SHARED / "pubmedqa" / "test_ground_truth.json").read_text())
    assert dict(zip(parts["test"]["pmid"], parts["test"]["label_name"])) == truth


def test_trials_round_trip_with_counted_skips():
    topics = read_topics(TRIALS / "queries.jsonl")
    qrels = read_qrels(TRIALS / "qrels_test.tsv")
    report = SkipReport()
    trials = read_corpus(TRIALS / "corpus.jsonl", report)
    assert len(topics) == 9 and len(qrels) == 27 and len(trials) == 23
    first = json.loads((TRIALS / "corpus.jsonl").read_text().splitlines()[0])
    assert trials[first["_id"]].startswith(first["title"]) and first["text"] in trials[first["_id"]]
    pairs = judged_pairs(topics, qrels, trials, report)
    assert len(pairs) == 25 and pairs["topic"].nunique() == 8
    assert (report.judgments, report.judgments_without_trial_text, report.topics_without_judged_trials) == (27, 2, 1)
    grid = candidate_pairs(pairs, ["sigir-20141"], trials)
    assert len(grid) == len(trials) and grid["grade"].sum() == pairs.loc[pairs["topic"] == "sigir-20141",
                                                                         "grade"].sum()


def test_trec_formats_read_the_same_topics_and_judgments(tmp_path):
    topics = read_topics(TRIALS / "queries.jsonl")
    trec = tmp_path / "topics.topics"
    trec.write_text("<TOPICS>\n" + "".join(f"<TOP>\n <NUM>{k.removeprefix('sigir-')}</NUM>\n <TITLE>{v}\n </TITLE>\n"
                                            "</TOP>\n" for k, v in topics.items()) + "</TOPICS>\n")
    assert read_topics(trec) == {k.removeprefix("sigir-"): " ".join(v.split()) for k, v in topics.items()}
    xml = tmp_path / "topics2021.xml"
    xml.write_text('<topics task="2021">\n<topic number="1">\nA 45-year-old man.\n</topic>\n</topics>')
    assert read_topics(xml) == {"1": "A 45-year-old man."}
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("20141 0 NCT00000408 0\n20141 0 NCT00000492 1\n")
    assert read_qrels(qrels).values.tolist() == [["20141", "NCT00000408", 0], ["20141", "NCT00000492", 1]]


def test_trials_bad_input_names_file_line_and_field(tmp_path):
    bad = tmp_path / "queries.jsonl"
    bad.write_text('{"_id": "t1", "text": "x"}\n{"_id": "t2", "text": \n')
    with pytest.raises(TrialsDataError, match=r"queries.jsonl: line 2: not valid JSON"):
        read_topics(bad)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nt1\tNCT1\t1\nt1\tNCT2\t3\n")
    with pytest.raises(TrialsDataError, match=r"qrels.tsv: line 3, field 'grade': unknown label '3'"):
        read_qrels(qrels)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "NCT1", "title": "T", "text": "criteria"}\n{"_id": "NCT2", "title": "", "text": ""}\n')
    report = SkipReport()
    assert list(read_corpus(corpus, report)) == ["NCT1"] and report.trials_without_text == 1
    with pytest.raises(TrialsDataError, match="do the topic ids"):
        judged_pairs({"20141": "x"}, read_qrels(TRIALS / "qrels_test.tsv"), read_corpus(TRIALS / "corpus.jsonl"),
                     SkipReport())


def test_topic_folds_never_put_a_topic_in_two_splits():
    topics = [f"t{i}" for i in range(13)]
    folds = topic_folds(topics, 5, seed=0)
    assert sorted(np.bincount(list(folds.values()))) == [2, 2, 3, 3, 3]
    assert topic_folds(list(reversed(topics)), 5, seed=0) == folds  # not file order
    tests = []
    for fold in range(5):
        roles = split_topics(folds, fold, 5)
        assert set(roles) == set(topics)  # each topic has exactly one role
        tests.append({t for t, r in roles.items() if r == "test"})
        assert {t for t, r in roles.items() if r == "val"} == {t for t, k in folds.items() if k == (fold + 1) % 5}
    assert set().union(*tests) == set(topics) and sum(map(len, tests)) == 13
    with pytest.raises(TrialsDataError, match="data.fold=5"):
        split_topics(folds, 5, 5)


def test_ranking_metrics_on_a_hand_computed_example():
    # topic a: ranked by score → grades 0, 2, 1; topic b: nothing relevant (left out); topic c: relevant first
    topics = ["a", "a", "a", "b", "b", "c", "c"]
    grades = [0, 2, 1, 0, 0, 1, 0]
    scores = [0.9, 0.5, 0.1, 0.3, 0.2, 0.8, 0.1]
    ranked, unranked = per_topic(topics, grades, scores)
    assert unranked == 1 and list(ranked["topic"]) == ["a", "c"]
    dcg = 2 / np.log2(3) + 1 / np.log2(4)
    ideal = 2 / np.log2(2) + 1 / np.log2(3)
    a = ranked.iloc[0]
    assert a["ndcg10"] == pytest.approx(dcg / ideal) and a["p10"] == pytest.approx(0.2) and a["mrr"] == 0.5
    c = ranked.iloc[1]
    assert (c["ndcg10"], c["p10"], c["mrr"]) == pytest.approx((1.0, 0.1, 1.0))
    statistics = ranking_statistics(topics, grades, scores)
    boot = ClusterBootstrap(topics, n_resamples=50)
    assert statistics["ndcg10"](boot)[0] == pytest.approx((dcg / ideal + 1) / 2)
    assert statistics["mrr"](boot)[0] == pytest.approx(0.75)
    resampled = statistics["p10"](boot)[1:]
    resampled = resampled[np.isfinite(resampled)]  # a resample of topic b alone ranks nothing
    assert np.all((resampled > 0.1 - 1e-6) & (resampled < 0.2 + 1e-6))  # between topic c's and topic a's


def test_document_bm25_matches_bm25s_lucene():
    import bm25s

    documents = [["chest", "pain", "pain", "trial"], ["lung", "mass", "cancer"], ["fever", "cough", "lung"]]
    queries = [["lung", "cough"], ["pain"], ["absent"]]
    ours = document_scores(documents, queries)
    index = bm25s.BM25(method="lucene")
    index.index(documents, show_progress=False)
    expected = np.column_stack([index.get_scores(q) for q in queries])
    assert ours == pytest.approx(expected, rel=1e-5)
    assert ours[:, 2].tolist() == [0, 0, 0]
