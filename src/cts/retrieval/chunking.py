"""Cut a note into small token windows (the authors: ≤ 5 tokens, 5 tokens of context each side, and the 2 chunks
before and after as neighbour context), keeping character offsets into the original text.

Tokens are whitespace-separated words; ``___`` de-identification placeholders are not tokens (they carry nothing
and would eat the window), section headers (``Discharge Medications:``) are not tokens either but label every
chunk under them, so retrieval sees "this sits in the medication list" as context. Chunks never straddle two
sections; context windows may, as the text does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

_TERM = re.compile(r"[^\W_]+")
# A header starts a line: a capitalised label then a colon. Single words count only alone on their line, so
# "BP: 120/80" or "Sex: F" stay text while "Chief Complaint: pain" and "Allergies:\n" are headers.
_HEADER = re.compile(r"^[ \t]*([A-Z][A-Za-z/&,()' -]{1,60}):[ \t]*(\n|$)?", re.MULTILINE)
_SPACES = re.compile(r"(?:\s|_{3,})+")
STOPWORDS = frozenset(STOPWORDS_EN)
# Character classes as the regex engine and str.split see them (str.isspace / str.isalnum), by code point.
_ASCII_SPACE = np.array([chr(i).isspace() for i in range(128)])
_ASCII_ALNUM = np.array([chr(i).isalnum() for i in range(128)])
_UNDERSCORE = ord("_")


def _classify(codes: np.ndarray, ascii_table: np.ndarray, predicate) -> np.ndarray:
    """Per character, ``predicate`` (a str method): a table lookup for ASCII, the method for the rare rest."""
    result = np.zeros(len(codes), dtype=bool)
    small = codes < 128
    result[small] = ascii_table[codes[small]]
    if not small.all():
        rest = np.flatnonzero(~small)
        values, inverse = np.unique(codes[rest], return_inverse=True)
        result[rest] = np.array([predicate(chr(v)) for v in values.tolist()])[inverse]
    return result


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the runs of True."""
    padded = np.zeros(len(mask) + 2, dtype=np.int8)
    padded[1:-1] = mask
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def terms(text: str) -> list[str]:
    """Lower-cased word/number terms without stopwords: what BM25 indexes and what coverage matches."""
    return [t for t in (m.group().lower() for m in _TERM.finditer(text)) if t not in STOPWORDS]


@lru_cache(maxsize=4096)
def _label_terms(label: str) -> tuple[str, ...]:
    """Section labels repeat across notes ("History of Present Illness"); their terms are computed once."""
    return tuple(terms(label))


def squash(text: str) -> str:
    """One line for a model or a log of shape: whitespace runs and placeholders become one space."""
    return _SPACES.sub(" ", text).strip()


@dataclass
class ChunkedNote:
    """Token and chunk boundaries of one note; chunk ``c`` spans tokens ``[lo[c], hi[c])``."""

    text: str
    tok_start: np.ndarray  # int64 character offsets, per token
    tok_end: np.ndarray
    lo: np.ndarray  # per chunk: first token
    hi: np.ndarray  # per chunk: one past the last token
    section: np.ndarray  # per chunk: index into sections
    sections: list[str]
    context: int
    neighbours: int
    words: list[str]  # the note's terms in order (lower-cased, no stopwords, none from headers)
    word_token: np.ndarray  # per term: its token
    section_words: list[tuple[str, ...]]  # per section: the terms of its label

    @property
    def n_tokens(self) -> int:
        return len(self.tok_start)

    def __len__(self) -> int:
        return len(self.lo)

    def span(self, c: int) -> tuple[int, int]:
        return int(self.tok_start[self.lo[c]]), int(self.tok_end[self.hi[c] - 1])

    def context_span(self, c: int) -> tuple[int, int]:
        """The chunk plus ``context`` tokens each side, clipped at the note's edges."""
        first = max(0, int(self.lo[c]) - self.context)
        last = min(self.n_tokens, int(self.hi[c]) + self.context) - 1
        return int(self.tok_start[first]), int(self.tok_end[last])

    def neighbour_span(self, c: int) -> tuple[int, int]:
        """The chunk with its ``neighbours`` chunks before and after (the authors' context)."""
        first = max(0, c - self.neighbours)
        last = min(len(self) - 1, c + self.neighbours)
        return int(self.tok_start[self.lo[first]]), int(self.tok_end[self.hi[last] - 1])

    def without_terms(self) -> ChunkedNote:
        """A copy without the per-term lists: what the main process needs, at a fraction of the pickling."""
        return replace(self, words=[], word_token=self.word_token[:0])

    def term_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per chunk, the slice of ``words`` that falls in its context window."""
        first = np.maximum(self.lo - self.context, 0)
        last = np.minimum(self.hi + self.context, self.n_tokens)
        return (np.searchsorted(self.word_token, first, side="left"),
                np.searchsorted(self.word_token, last, side="left"))

    def context_terms(self) -> list[list[str]]:
        """Per chunk: the section's terms then the terms of its context window (contextual BM25 documents)."""
        return [[*self.section_words[s], *self.words[a:b]] for s, a, b in zip(self.section, *self.term_ranges())]

    def context_text(self, c: int) -> str:
        """The section label and the context window on one line (contextual semantic search input)."""
        start, end = self.context_span(c)
        section = self.sections[self.section[c]]
        body = squash(self.text[start:end])
        return f"{section}: {body}" if section else body


@dataclass(frozen=True)
class Chunker:
    """``size`` tokens per chunk, ``context`` tokens each side, ``neighbours`` chunks each side."""

    size: int = 5
    context: int = 5
    neighbours: int = 2

    def __post_init__(self):
        if self.size < 1 or self.context < 0 or self.neighbours < 0:
            raise ValueError(f"chunk.size must be ≥ 1 and context/neighbours ≥ 0, got {self}")

    def settings(self) -> dict:
        return {"size": self.size, "context": self.context, "neighbours": self.neighbours}

    def __call__(self, text: str) -> ChunkedNote:
        """Vectorised over characters: a 2,300-token note is a few numpy passes, not thousands of regex matches."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        tok_start, tok_end = _runs(~_classify(codes, _ASCII_SPACE, str.isspace))
        underscores = np.concatenate([[0], np.cumsum(codes == _UNDERSCORE)])
        real = underscores[tok_end] - underscores[tok_start] < tok_end - tok_start  # not a ___ placeholder
        tok_start, tok_end = tok_start[real], tok_end[real]
        headers = [(m.start(1), m.end(), m.group(1).strip()) for m in _HEADER.finditer(text)
                   if m.group(2) is not None or " " in m.group(1).strip()]
        # Header tokens leave the stream; the header labels the tokens up to the next header.
        header_start = np.asarray([h[0] for h in headers], dtype=np.int64)
        header_end = np.asarray([h[1] for h in headers], dtype=np.int64)
        label = np.searchsorted(header_start, tok_start, side="right")
        in_header = (label > 0) & (tok_start < np.concatenate([[0], header_end])[label])
        tok_start, tok_end, label = tok_start[~in_header], tok_end[~in_header], label[~in_header]
        words, word_token = self._words(text, codes, tok_start, tok_end)
        lo, hi = self._windows(label)
        sections = [""] + [h[2] for h in headers]
        return ChunkedNote(text, tok_start, tok_end, lo, hi, label[lo], sections, self.context, self.neighbours,
                           words, word_token, [_label_terms(s) for s in sections])

    @staticmethod
    def _words(text: str, codes: np.ndarray, tok_start: np.ndarray, tok_end: np.ndarray):
        """The terms of the kept tokens, lower-cased and without stopwords, with the token each belongs to."""
        term_start, term_end = _runs(_classify(codes, _ASCII_ALNUM, str.isalnum))
        if len(term_start) == 0 or len(tok_start) == 0:
            return [], np.zeros(0, dtype=np.int64)
        words = "\n".join([text[a:b] for a, b in zip(term_start.tolist(), term_end.tolist())]).lower().split("\n")
        token = np.searchsorted(tok_start, term_start, side="right") - 1
        keep = (token >= 0) & (term_start < tok_end[np.maximum(token, 0)])
        keep &= ~np.fromiter(map(STOPWORDS.__contains__, words), dtype=bool, count=len(words))
        return [w for w, k in zip(words, keep.tolist()) if k], token[keep]

    def _windows(self, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Consecutive ``size``-token windows restarting at each section boundary."""
        if len(label) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        boundaries = np.flatnonzero(np.diff(label)) + 1
        section_starts = np.concatenate([[0], boundaries])
        section_ends = np.concatenate([boundaries, [len(label)]])
        lo = np.concatenate([np.arange(s, e, self.size) for s, e in zip(section_starts, section_ends)])
        hi = np.minimum(lo + self.size, np.repeat(section_ends, -(-(section_ends - section_starts) // self.size)))
        return lo, hi
