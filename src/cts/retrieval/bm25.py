"""Contextual BM25: each chunk's document is its section label plus its context window, indexed per note so term
rarity is judged within the note (a drug named once outranks boilerplate repeated in every section); a chunk's
score is its best score over the query sets.

Two engines give the same scores (Lucene BM25, ``bm25s``'s default; tested equal): ``bm25s`` itself, and
``numpy``, the default, which scores only the query terms present, with the context windows as ranges over the
note's terms. bm25s indexes every document in Python (~10 µs each, ~4 ms for a 400-chunk note), which alone
would hold 2 cores near the 200 notes/s target; the numpy engine takes a fraction of a millisecond.
"""

from __future__ import annotations

import logging
from itertools import repeat

import bm25s
import numpy as np

from cts.retrieval.chunking import ChunkedNote

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every per-note index build at DEBUG
ENGINES = ("numpy", "bm25s")


class QueryTerms:
    """Query sets as one term vocabulary and a term × set membership matrix."""

    def __init__(self, query_terms: list[list[str]]):
        self.sets = [sorted(set(q)) for q in query_terms]
        self.vocabulary = {t: i for i, t in enumerate(sorted({t for q in self.sets for t in q}))}
        self.membership = np.zeros((len(self.vocabulary), len(self.sets)))
        for q, query in enumerate(self.sets):
            self.membership[[self.vocabulary[t] for t in query], q] = 1


def _best(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document (rows of a document × query matrix): the best score and its query."""
    if matrix.shape[1] == 0:
        return np.zeros(matrix.shape[0], dtype=np.float32), np.zeros(matrix.shape[0], dtype=np.int64)
    return matrix.max(axis=1).astype(np.float32), matrix.argmax(axis=1)


def bm25s_scores(chunks: ChunkedNote, queries: QueryTerms, k1: float = 1.5,
                 b: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """(score, index of the best query) per chunk with a per-note ``bm25s`` index; 0 where no query term occurs."""
    if len(chunks) == 0:
        return _best(np.zeros((0, len(queries.sets))))
    index = bm25s.BM25(k1=k1, b=b, method="lucene")
    index.index(chunks.context_terms(), show_progress=False)
    return _best(np.column_stack([index.get_scores(query) for query in queries.sets]))


def numpy_scores(chunks: ChunkedNote, queries: QueryTerms, k1: float = 1.5,
                 b: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Same scores as :func:`bm25s_scores`: term frequencies of the present query terms by difference arrays."""
    n = len(chunks)
    if n == 0:
        return _best(np.zeros((0, len(queries.sets))))
    first, last = chunks.term_ranges()
    length = (last - first) + np.array([len(t) for t in chunks.section_words])[chunks.section]
    # query-term occurrences: in the body (a position covers the contiguous chunks whose window holds it) ...
    ids = np.fromiter(map(queries.vocabulary.get, chunks.words, repeat(-1)), dtype=np.int64, count=len(chunks.words))
    position = np.flatnonzero(ids >= 0)
    section_rows = [s for s, words in enumerate(chunks.section_words) for w in words if w in queries.vocabulary]
    section_ids = [queries.vocabulary[w] for words in chunks.section_words for w in words if w in queries.vocabulary]
    present, column = np.unique(np.concatenate([ids[position], np.asarray(section_ids, dtype=np.int64)]),
                                return_inverse=True)
    if len(present) == 0 or length.mean() == 0:
        return _best(np.zeros((n, len(queries.sets))))
    delta = np.zeros((n + 1, len(present)))
    body_columns = column[: len(position)]
    np.add.at(delta, (np.searchsorted(last, position, side="right"), body_columns), 1)
    np.add.at(delta, (np.searchsorted(first, position, side="right"), body_columns), -1)
    tf = np.cumsum(delta, axis=0)[:n]
    # ... and in the section label every chunk of the section carries.
    in_section = np.zeros((len(chunks.sections), len(present)))
    np.add.at(in_section, (np.asarray(section_rows, dtype=np.int64), column[len(position):]), 1)
    tf += in_section[chunks.section]
    return _best(lucene_weights(tf, length, k1, b) @ queries.membership[present])


def lucene_weights(tf: np.ndarray, length: np.ndarray, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene BM25 weight of each (document, term) from term frequencies ``(n_docs, n_terms)`` and document
    lengths; document frequencies are counted over these documents."""
    n = tf.shape[0]
    df = (tf > 0).sum(axis=0)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    norm = k1 * ((1 - b) + b * length / length.mean())
    return idf * tf / (norm[:, None] + tf)


def document_scores(documents: list[list[str]], queries: list[list[str]], k1: float = 1.5,
                    b: float = 0.75) -> np.ndarray:
    """BM25 of each query against each whole document (terms as :func:`cts.retrieval.chunking.terms` gives them),
    the index being ``documents``: a ``(n_documents, n_queries)`` matrix, 0 where no query term occurs."""
    query_terms = QueryTerms(queries)
    tf = np.zeros((len(documents), len(query_terms.vocabulary)))
    for row, words in enumerate(documents):
        ids = [query_terms.vocabulary[w] for w in words if w in query_terms.vocabulary]
        np.add.at(tf[row], np.asarray(ids, dtype=np.int64), 1)
    length = np.array([len(words) for words in documents], dtype=np.float64)
    if not len(documents) or length.mean() == 0:
        return np.zeros((len(documents), len(queries)))
    return lucene_weights(tf, length, k1, b) @ query_terms.membership


SCORERS = {"numpy": numpy_scores, "bm25s": bm25s_scores}
