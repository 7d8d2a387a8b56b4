"""Where an event's text sits in a note: rapidfuzz's best partial alignment, case-folded.

One matcher for every place that needs it: ``task=extract`` (which window a reference event belongs to) and the
timeline page (which words of the note an event was taken from).
"""

from __future__ import annotations

from rapidfuzz import fuzz


def fold(text: str) -> str:
    """Lower-cased ``text`` when that keeps every character position (so spans index the original), else as is."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text


def locate(event: str, folded_texts: list[str]) -> tuple[float, int, int, int] | None:
    """``(score 0–100, text index, start, end)`` of ``event``'s best partial alignment over ``folded_texts``
    (each already :func:`fold`-ed), None when there is no text."""
    best = None
    needle = event.lower()
    for k, text in enumerate(folded_texts):
        found = fuzz.partial_ratio_alignment(needle, text)
        if found is not None and (best is None or found.score > best[0]):
            best = (found.score, k, found.dest_start, found.dest_end)
    return best
