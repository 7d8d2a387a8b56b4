"""Contextual BM25 (``bm25s``): each chunk's document is its section label plus its context window, indexed per
note so term rarity is judged within the note (a drug named once outranks the boilerplate repeated in every
section); a chunk's score is its best score over the query sets."""

from __future__ import annotations

import logging

import bm25s
import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every per-note index build at DEBUG


def bm25_scores(documents: list[list[str]], queries: list[list[str]], k1: float = 1.5,
                b: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """(score, index of the best query) per document; 0 where no query term occurs."""
    if not documents:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    index = bm25s.BM25(k1=k1, b=b)
    index.index(documents, show_progress=False)
    matrix = np.vstack([index.get_scores(query) for query in queries])
    return matrix.max(axis=0).astype(np.float32), matrix.argmax(axis=0)
