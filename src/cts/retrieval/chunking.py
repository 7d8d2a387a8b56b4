"""Cut a note into small token windows (the authors: ≤ 5 tokens, 5 tokens of context each side, and the 2 chunks
before and after as neighbour context), keeping character offsets into the original text.

Tokens are whitespace-separated words; ``___`` de-identification placeholders are not tokens (they carry nothing
and would eat the window), section headers (``Discharge Medications:``) are not tokens either but label every
chunk under them, so retrieval sees "this sits in the medication list" as context. Chunks never straddle two
sections; context windows may, as the text does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

_TOKEN = re.compile(r"\S+")
_PLACEHOLDER = re.compile(r"_+")
_TERM = re.compile(r"[^\W_]+")
# A header starts a line: a capitalised label then a colon. Single words count only alone on their line, so
# "BP: 120/80" or "Sex: F" stay text while "Chief Complaint: pain" and "Allergies:\n" are headers.
_HEADER = re.compile(r"^[ \t]*([A-Z][A-Za-z/&,()' -]{1,60}?)[ \t]*:[ \t]*(\n|$)?", re.M)
_SPACES = re.compile(r"(?:\s|_{3,})+")
STOPWORDS = frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """Lower-cased word/number terms without stopwords: what BM25 indexes and what coverage matches."""
    return [t for t in (m.group().lower() for m in _TERM.finditer(text)) if t not in STOPWORDS]


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

    def context_terms(self) -> list[list[str]]:
        """Per chunk: the section's terms then the terms of its context window (contextual BM25 documents)."""
        positions, words = [], []
        for match in _TERM.finditer(self.text):
            word = match.group().lower()
            if word not in STOPWORDS:
                positions.append(match.start())
                words.append(word)
        position = np.asarray(positions, dtype=np.int64)
        token = np.searchsorted(self.tok_start, position, side="right") - 1
        inside = (token >= 0) & (position < self.tok_end[np.maximum(token, 0)])
        words = [w for w, keep in zip(words, inside) if keep]
        token = token[inside]
        first = np.maximum(self.lo - self.context, 0)
        last = np.minimum(self.hi + self.context, self.n_tokens)
        starts = np.searchsorted(token, first, side="left")
        stops = np.searchsorted(token, last, side="left")
        section_terms = [terms(s) for s in self.sections]
        return [section_terms[s] + words[a:b] for s, a, b in zip(self.section, starts, stops)]

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
        headers = [(m.start(1), m.end(), m.group(1).strip()) for m in _HEADER.finditer(text)
                   if m.group(2) is not None or " " in m.group(1).strip()]
        starts, ends = [], []
        for m in _TOKEN.finditer(text):
            if _PLACEHOLDER.fullmatch(m.group()) is None:
                starts.append(m.start())
                ends.append(m.end())
        tok_start = np.asarray(starts, dtype=np.int64)
        tok_end = np.asarray(ends, dtype=np.int64)
        # Header tokens leave the stream; the header becomes the label of the tokens up to the next header.
        label = np.zeros(len(tok_start), dtype=np.int64)
        keep = np.ones(len(tok_start), dtype=bool)
        for number, (start, end, _) in enumerate(headers, start=1):
            label[tok_start >= start] = number
            keep &= ~((tok_start >= start) & (tok_start < end))
        tok_start, tok_end, label = tok_start[keep], tok_end[keep], label[keep]
        sections = [""] + [name for _, _, name in headers]
        lo, hi = self._windows(label)
        return ChunkedNote(text, tok_start, tok_end, lo, hi, label[lo], sections,
                           self.context, self.neighbours)

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
