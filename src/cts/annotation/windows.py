"""Cut a note that does not fit the prompt budget into overlapping windows; assign each chunk to one window; pack
retrieved passages into prompts.

Windows overlap (``llm.window_overlap`` of their length) so an event near a cut is seen whole at least once;
each candidate chunk is annotated in exactly one window (the one whose own part holds the chunk's start), and
window outputs are merged by :func:`cts.annotation.parsing.merge_events`. Passages (the merged windows of the
kept chunks, ``passage_start``/``passage_end`` in the candidates) are packed in note order into prompts of at
most the budget; a passage longer than the budget is cut into overlapping windows like a note.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int  # character offsets into the note
    end: int
    own_end: int  # chunks starting in [start, own_end) belong to this window (own_end = next window's start)


def plan_windows(text: str, spans: list[tuple[int, int]], budget: int, overlap: float) -> list[Window]:
    """Windows of at most ``budget`` tokens (token ``spans`` are character offsets), the whole note if it fits."""
    if budget < 16:
        raise ValueError(f"prompt budget for note text is {budget} tokens: raise llm.max_prompt_tokens")
    if len(spans) <= budget:
        return [Window(0, len(text), len(text))]
    step = max(1, int(budget * (1 - overlap)))
    firsts = list(range(0, len(spans) - budget + step, step))
    starts = [0] + [spans[i][0] for i in firsts[1:]]
    ends = [spans[min(i + budget, len(spans)) - 1][1] for i in firsts]
    ends[-1] = len(text)
    return [Window(s, e, starts[k + 1] if k + 1 < len(starts) else len(text))
            for k, (s, e) in enumerate(zip(starts, ends))]


def owner(windows: list[Window], position: int) -> int:
    """Index of the window whose own part holds character ``position``."""
    return next((k for k, w in enumerate(windows) if position < w.own_end), len(windows) - 1)


def plan_passages(text: str, spans: list[tuple[int, int]], passages: list[tuple[int, int]], budget: int,
                  overlap: float) -> list[list[tuple[int, int]]]:
    """Groups of character spans, each group one prompt of at most ``budget`` tokens (token ``spans`` of the note)."""
    starts = [s for s, _ in spans]
    pieces = []
    for start, end in sorted(passages):
        inside = spans[bisect_left(starts, start):bisect_left(starts, end)]
        if len(inside) <= budget:
            pieces.append((start, end, len(inside)))
        else:
            shifted = [(a - start, b - start) for a, b in inside]
            pieces += [(start + w.start, start + w.end, budget)
                       for w in plan_windows(text[start:end], shifted, budget, overlap)]
    groups, used = [], budget + 1
    for start, end, tokens in pieces:
        if used + tokens > budget:
            groups.append([])
            used = 0
        groups[-1].append((start, end))
        used += tokens
    return groups
