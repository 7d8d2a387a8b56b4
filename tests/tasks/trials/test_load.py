"""The trial-matching loader on the vendored fixture: round trip with counted skips, the TREC formats, bad input
named by file, line and field, topic folds."""

import json
from pathlib import Path

import numpy as np
import pytest

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

TRIALS = Path(__file__).resolve().parents[2] / "fixtures" / "trials"


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
