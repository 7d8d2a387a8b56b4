"""Rank a note's chunks for clinical-event content: BM25, dense, hybrid (fused) or cascade.

The work is split where the cost is: :meth:`Retriever.lexical` (chunk terms + BM25, and which chunks need an
embedding) runs in worker processes; :meth:`Retriever.rank` (embeddings for a whole batch of notes in one call,
fusion, selection) runs in the main process, which holds the one copy of the model. ``cascade`` embeds only the
BM25 top ``cascade_top_n`` chunks that matched any query term, instead of every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from cts.data.notes import Note
from cts.retrieval.bm25 import ENGINES, SCORERS, QueryTerms
from cts.retrieval.chunking import ChunkedNote, terms
from cts.retrieval.dense import ENCODERS, make_encoder
from cts.retrieval.fusion import ranks, reciprocal_rank_fusion, select, smooth
from cts.retrieval.passages import Selection

MODES = ("bm25", "dense", "hybrid", "cascade")


@dataclass(frozen=True)
class QuerySet:
    """A named list of query phrases (``conf/preprocess/queries/<name>.yaml``); BM25 uses their terms as one bag."""

    name: str
    phrases: tuple[str, ...]

    @property
    def terms(self) -> list[str]:
        return sorted({t for phrase in self.phrases for t in terms(phrase)})


def load_queries(path: str | Path | list) -> list[QuerySet]:
    """Query sets from a folder of YAML files, one file, or a list of files: ``name: …`` and ``queries: [...]``."""
    if isinstance(path, (list, tuple)) or type(path).__name__ == "ListConfig":
        return [q for p in path for q in load_queries(p)]
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise FileNotFoundError(f"{path}: no query files (*.yaml with name: and queries:)")
    sets = []
    for file in files:
        spec = yaml.safe_load(file.read_text()) or {}
        phrases = spec.get("queries")
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ValueError(f"{file}: field 'queries' must be a non-empty list of phrases")
        sets.append(QuerySet(str(spec.get("name", file.stem)), tuple(phrases)))
    return sets


@dataclass
class Lexical:
    """Worker output for one note: its chunks, BM25 scores, and the chunks whose context must be embedded."""

    note: Note
    chunks: ChunkedNote
    bm25: np.ndarray
    bm25_query: np.ndarray
    embed: np.ndarray
    embed_texts: list[str]


@dataclass
class Ranked:
    """Final scores of one note's chunks and the kept ones, best first."""

    lexical: Lexical
    dense: np.ndarray  # NaN where not embedded
    score: np.ndarray
    eligible: np.ndarray  # chunks some retriever matched (the only ones a top_k/budget selection ranks)
    query: list[str | None]
    kept: np.ndarray


class Retriever:
    """Scores a note's chunks and keeps some (:class:`~cts.retrieval.passages.Selection`). These defaults are plain
    top-30 ranking; the configured default (``conf/retrieval``) is the measured winner: smoothed scores, a budget
    of half the note's tokens, short notes whole."""

    def __init__(self, mode: str = "hybrid", queries: str | Path | list = "conf/preprocess/queries",
                 k1: float = 1.5, b: float = 0.75, bm25_engine: str = "numpy", model_name_or_path: str | None = None,
                 encoder: str = "transformer", cache_dir: str | Path = ".cache/cts", batch_size: int = 128,
                 device: str = "cpu", cascade_top_n: int = 60, rrf_k: float = 60.0, bm25_weight: float = 1.0,
                 dense_weight: float = 1.0, top_k: int | None = 30, min_score: float | None = None,
                 budget: float | None = None, whole_note_tokens: int = 0, smooth_chunks: int = 0):
        if mode not in MODES:
            raise ValueError(f"retrieval.mode must be one of {MODES}, got {mode!r}")
        if bm25_engine not in ENGINES:
            raise ValueError(f"retrieval.bm25_engine must be one of {ENGINES}, got {bm25_engine!r}")
        if encoder not in ENCODERS:
            raise ValueError(f"retrieval.encoder must be one of {ENCODERS}, got {encoder!r}")
        self.mode, self.k1, self.b = mode, k1, b
        self.query_sets = load_queries(queries)
        self.query_terms = QueryTerms([q.terms for q in self.query_sets])
        self.bm25_engine = bm25_engine
        self.cascade_top_n, self.rrf_k = cascade_top_n, rrf_k
        self.weights = [bm25_weight, dense_weight]
        if smooth_chunks < 0:
            raise ValueError(f"retrieval.smooth_chunks must be ≥ 0, got {smooth_chunks}")
        self.selection = Selection(top_k, min_score, budget, whole_note_tokens)
        self.smooth_chunks = smooth_chunks
        self.encoder = make_encoder(encoder, model_name_or_path, batch_size, device, cache_dir) \
            if mode != "bm25" else None
        self._phrase_vectors = None

    def settings(self) -> dict:
        """What decides the output (a resumed run must match it)."""
        return {
            "mode": self.mode, "k1": self.k1, "b": self.b, "cascade_top_n": self.cascade_top_n,
            "rrf_k": self.rrf_k, "weights": self.weights, **self.selection.__dict__,
            "smooth_chunks": self.smooth_chunks,
            "model": self.encoder.model_name_or_path if self.encoder else None,
            "encoder": self.encoder.kind if self.encoder else None,
            "queries": {q.name: list(q.phrases) for q in self.query_sets},
        }

    def lexical(self, note: Note, chunks: ChunkedNote) -> Lexical:
        bm25, best = SCORERS[self.bm25_engine](chunks, self.query_terms, self.k1, self.b)
        if self.mode in ("dense", "hybrid"):
            embed = np.arange(len(chunks))
        elif self.mode == "cascade":
            embed = select(bm25, bm25 > 0, self.cascade_top_n, None)
        else:
            embed = np.zeros(0, dtype=np.int64)
        texts = [chunks.context_text(c) for c in embed]
        return Lexical(note, chunks.without_terms(), bm25, best, embed, texts)

    def _phrases(self) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of every query phrase (once) and the query set each belongs to."""
        if self._phrase_vectors is None:
            phrases = [p for q in self.query_sets for p in q.phrases]
            owner = np.repeat(np.arange(len(self.query_sets)), [len(q.phrases) for q in self.query_sets])
            self._phrase_vectors = (self.encoder.encode(phrases, count=False), owner)
        return self._phrase_vectors

    def rank(self, batch: list[Lexical]) -> list[Ranked]:
        """Embed what the batch needs in one call, then score, fuse and select per note."""
        texts = [t for lex in batch for t in lex.embed_texts]
        similarity = owner = None
        if self.encoder is not None and texts:
            phrases, owner = self._phrases()
            similarity = self.encoder.encode(texts) @ phrases.T
        results, offset = [], 0
        for lex in batch:
            n = len(lex.chunks)
            dense = np.full(n, np.nan, dtype=np.float32)
            dense_query = np.full(n, -1)
            if similarity is not None and len(lex.embed):
                part = similarity[offset: offset + len(lex.embed)]
                offset += len(lex.embed)
                dense[lex.embed] = part.max(axis=1)
                dense_query[lex.embed] = owner[part.argmax(axis=1)]
            score, eligible = smooth(*self._score(lex.bm25, dense), self.smooth_chunks)
            query = [self.query_sets[q].name if q >= 0 else None
                     for q in np.where(lex.bm25 > 0, lex.bm25_query, dense_query)]
            kept = self.selection.keep(lex.chunks, score, eligible)
            results.append(Ranked(lex, dense, score, eligible, query, kept))
        return results

    def _score(self, bm25: np.ndarray, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Final score and which chunks may be kept: a chunk no retriever matched is never a candidate."""
        if self.mode == "bm25":
            return bm25.astype(np.float64), bm25 > 0
        embedded = ~np.isnan(dense)
        if self.mode == "dense":
            return np.nan_to_num(dense).astype(np.float64), embedded
        fused = reciprocal_rank_fusion([ranks(bm25, bm25 > 0), ranks(dense, embedded)], self.weights, self.rrf_k)
        return fused, fused > 0
