"""What a note sends to the LLM: the kept chunks' context windows, merged into passages, chosen by a selection rule.

A chunk's *window* is the chunk plus ``context`` tokens each side (token ranges over the chunker's tokens).
Kept windows that overlap or touch are merged into one *passage*, so no text is sent twice. The rule that picks
the kept chunks (:class:`Selection`):

- ``top_k`` best chunks and/or ``min_score`` (in the retrieval mode's score units), as before;
- ``budget``: best-first, as many chunks as fit while the merged passages cover at most ``budget`` of the note's
  tokens (the cost the LLM pays, whatever the note's length);
- ``whole_note_tokens``: a note of at most this many tokens keeps every chunk, so its one passage is the whole note
  (short notes cost little and retrieval can only lose events there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cts.retrieval.chunking import ChunkedNote
from cts.retrieval.fusion import select


def windows(chunks: ChunkedNote) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk, its window as a token range ``[first, last)``."""
    return (np.maximum(chunks.lo - chunks.context, 0), np.minimum(chunks.hi + chunks.context, chunks.n_tokens))


def merge(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token ranges merged where they overlap or touch, in note order."""
    if len(first) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(first, kind="stable")
    first, last = np.asarray(first)[order], np.asarray(last)[order]
    reach = np.maximum.accumulate(last)
    starts = np.concatenate([[True], first[1:] > reach[:-1]])
    return first[starts], np.maximum.reduceat(last, np.flatnonzero(starts))


def passages(chunks: ChunkedNote, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged token ranges of the kept chunks' windows."""
    first, last = windows(chunks)
    return merge(first[kept], last[kept])


def passage_of(chunks: ChunkedNote, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per kept chunk (in ``kept``'s order), the character span of the passage its window belongs to. A passage
    from the note's first token starts at the text's start, one to its last token ends at the text's end, so a
    passage of every token is exactly the whole note (headers and all)."""
    first, last = windows(chunks)
    starts, ends = merge(first[kept], last[kept])
    index = np.searchsorted(starts, first[kept], side="right") - 1
    begin = np.where(starts[index] == 0, 0, chunks.tok_start[starts[index]])
    end = np.where(ends[index] == chunks.n_tokens, len(chunks.text), chunks.tok_end[ends[index] - 1])
    return begin, end


@dataclass(frozen=True)
class Selection:
    """Which of a note's ranked chunks are kept (see the module docstring); ``None`` switches a limit off."""

    top_k: int | None = None
    min_score: float | None = None
    budget: float | None = None
    whole_note_tokens: int = 0

    def __post_init__(self):
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"retrieval.top_k must be ≥ 1 or null, got {self.top_k}")
        if self.budget is not None and not 0 < self.budget <= 1:
            raise ValueError(f"retrieval.budget must be in (0, 1] (a share of the note's tokens) or null, "
                             f"got {self.budget}")
        if self.whole_note_tokens < 0:
            raise ValueError(f"retrieval.whole_note_tokens must be ≥ 0, got {self.whole_note_tokens}")

    def keep(self, chunks: ChunkedNote, score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """Indices of the kept chunks, best first."""
        if 0 < chunks.n_tokens <= self.whole_note_tokens:
            ranked = select(score, eligible, None, None)
            rest = np.setdiff1d(np.arange(len(chunks)), ranked)  # unmatched chunks follow, in note order
            return np.concatenate([ranked, rest]).astype(np.int64)
        order = select(score, eligible, self.top_k, self.min_score)
        if self.budget is None or len(order) == 0:
            return order
        first, last = windows(chunks)
        sent = np.zeros(chunks.n_tokens, dtype=bool)
        allowed, used = self.budget * chunks.n_tokens, 0
        for taken, c in enumerate(order.tolist()):
            new = int((~sent[first[c]:last[c]]).sum())
            if used + new > allowed and taken > 0:  # the best chunk is always kept
                return order[:taken]
            sent[first[c]:last[c]] = True
            used += new
        return order
