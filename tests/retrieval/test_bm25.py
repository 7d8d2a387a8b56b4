"""Contextual BM25 (cts.retrieval.bm25): the numpy engine against bm25s, whole-document BM25 against bm25s and the
Lucene formula by hand, and the edge cases (no query sets, no terms, empty documents)."""

import math

import bm25s
import numpy as np
import pytest

from cts.retrieval.bm25 import QueryTerms, bm25s_scores, document_scores, numpy_scores
from cts.retrieval.chunking import Chunker
from cts.retrieval.retriever import load_queries

from .helpers import NOTE, QUERIES


def lucene(tf: float, df: int, n_docs: int, length: float, mean_length: float, k1: float = 1.5, b: float = 0.75):
    """One term's Lucene BM25 weight, written out."""
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (k1 * (1 - b + b * length / mean_length) + tf)


def test_numpy_engine_gives_the_bm25s_scores():
    queries = QueryTerms([q.terms for q in load_queries(QUERIES)])
    notes = [NOTE, NOTE.replace("Chief Complaint:", "Chief Complaint: fever fever"), "aspirin " * 3 + "x " * 40,
             "Discharge Medications:\n" + " ".join(["pleasure"] * 30)]
    for text in notes:
        chunks = Chunker(size=4, context=3)(text)
        fast, fast_best = numpy_scores(chunks, queries, k1=1.2, b=0.7)
        reference, reference_best = bm25s_scores(chunks, queries, k1=1.2, b=0.7)
        np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-6)
        assert (fast_best[fast > 0] == reference_best[fast > 0]).all()


def test_bm25_scores_zero_without_query_terms():
    queries = QueryTerms([["fever"], ["aspirin", "heparin"]])
    for scorer in (numpy_scores, bm25s_scores):
        scores, best = scorer(Chunker(size=2, context=0)("aspirin daily pleasure appointments"), queries)
        assert scores[0] > 0 and scores[1] == 0 and best[0] == 1
        assert len(scorer(Chunker()("___"), queries)[0]) == 0


def test_the_engines_default_to_lucene_k1_1_5_and_b_0_75(capfd):
    chunks = Chunker(size=3, context=2)("aspirin daily aspirin pleasure fever appointments aspirin call fever now")
    queries = QueryTerms([["aspirin"], ["fever", "call"]])
    index = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    index.index(chunks.context_terms(), show_progress=False)
    expected = np.column_stack([index.get_scores(q) for q in queries.sets])
    for scorer in (numpy_scores, bm25s_scores):
        scores, best = scorer(chunks, queries)
        np.testing.assert_allclose(scores, expected.max(axis=1), rtol=1e-5)
        assert best.tolist() == expected.argmax(axis=1).tolist()
    assert capfd.readouterr().err == ""  # no progress bar per note


def test_one_query_set_and_no_query_set():
    chunks = Chunker(size=2, context=0)("aspirin daily pleasure appointments aspirin")
    scores, best = numpy_scores(chunks, QueryTerms([["aspirin"]]))
    assert scores.dtype == np.float32 and best.tolist() == [0, 0, 0]
    assert scores[0] > 0 and scores[1] == 0 and scores[2] > 0
    scores, best = numpy_scores(chunks, QueryTerms([]))  # (load_queries never gives no sets; bm25s_scores needs one)
    assert scores.dtype == np.float32 and best.dtype == np.int64
    assert scores.tolist() == [0, 0, 0] and best.tolist() == [0, 0, 0]


def test_query_terms_are_sets_over_one_vocabulary():
    queries = QueryTerms([["pain", "fever", "pain"], ["cough"]])
    assert queries.sets == [["fever", "pain"], ["cough"]]
    assert queries.vocabulary == {"cough": 0, "fever": 1, "pain": 2}
    assert queries.membership.tolist() == [[0, 1], [1, 0], [1, 0]]


def test_document_scores_match_bm25s_lucene_and_the_formula():
    documents = [["chest", "pain", "pain", "trial"], ["lung", "mass", "cancer"], ["fever", "cough", "lung"]]
    queries = [["lung", "cough"], ["pain", "pain"], ["absent"]]
    for k1, b in ((1.5, 0.75), (1.2, 0.3)):
        index = bm25s.BM25(k1=k1, b=b, method="lucene")
        index.index(documents, show_progress=False)
        expected = np.column_stack([index.get_scores(sorted(set(q))) for q in queries])
        ours = document_scores(documents, queries, k1=k1, b=b)
        assert ours.shape == (3, 3)
        np.testing.assert_allclose(ours, expected, rtol=1e-5)
    ours = document_scores(documents, queries)
    mean_length = 10 / 3
    assert ours[0, 1] == pytest.approx(lucene(2, 1, 3, 4, mean_length))  # "pain" twice in document 0, once a query
    assert ours[2, 0] == pytest.approx(lucene(1, 2, 3, 3, mean_length) + lucene(1, 1, 3, 3, mean_length))
    assert ours[1, 0] == pytest.approx(lucene(1, 2, 3, 3, mean_length))
    assert ours[:, 2].tolist() == [0, 0, 0] and ours[1:, 1].tolist() == [0, 0]


def test_document_scores_of_no_documents_and_of_empty_documents():
    assert document_scores([], [["pain"], ["fever"]]).shape == (0, 2)
    assert document_scores([[], []], [["pain"], ["fever"]]).tolist() == [[0, 0], [0, 0]]
    assert document_scores([["pain"], []], []).shape == (2, 0)
    scores = document_scores([["pain"], []], [["pain"]])
    assert scores[0, 0] == pytest.approx(lucene(1, 1, 2, 1, 0.5)) and scores[1, 0] == 0
