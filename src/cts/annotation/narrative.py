"""Which parts of a note tell the patient's story: the text less the sections that do not, found by their headings.

A case report's introduction and discussion speak of other patients and the literature; a discharge summary's
medication lists and instructions are lists without times. Annotators that read words rather than meaning (the rules
baseline) leave those sections out: :func:`story_text` blanks them, so every offset still points into the note.
"""

from __future__ import annotations

import re

# A heading stands on its own line: an optional "pmc" (PMC extraction artefact) and section number, a capitalized
# title of at most six words made of letters, then an optional ":" ("Discussion", "2 Case presentation",
# "Medications on Admission:"); list items ("1. metformin") and captions ("Fig. 1") are not headings.
_HEADING = re.compile(r"^[ \t]*(?:pmc)?(?:\d+(?:\.\d+)*\.?[ \t]+)?"
                      r"(?P<title>[A-Z][A-Za-z'’&/,() -]{0,60}?)[ \t]*:?[ \t]*$", re.MULTILINE)
_MAX_HEADING_WORDS = 6


def headings(text: str) -> list[tuple[int, int, str]]:
    """(start, end, lower-case title) of each heading line of the text, in order."""
    found = []
    for match in _HEADING.finditer(text):
        title = match["title"].strip().lower()
        if title and len(title.split()) <= _MAX_HEADING_WORDS:
            found.append((match.start(), match.end(), title))
    return found


def story_spans(text: str, skip: tuple[str, ...] | list[str] = ()) -> list[tuple[int, int]]:
    """Character spans of the text to read: everything but the sections whose heading begins with one of ``skip``
    (lower case: "discussion" leaves out "Discussion and conclusions" too). A skipped section runs to the next
    heading that is not skipped; text before the first heading is always read."""
    prefixes = tuple(s.lower() for s in skip)
    if not prefixes:
        return [(0, len(text))] if text else []
    spans, start, skipping = [], 0, False
    for begin, _, title in headings(text):
        skipped = title.startswith(prefixes)
        if skipped and not skipping:
            if begin > start:
                spans.append((start, begin))
            skipping = True
        elif not skipped and skipping:
            start, skipping = begin, False
    if not skipping and start < len(text):
        spans.append((start, len(text)))
    return spans


def story_text(text: str, skip: tuple[str, ...] | list[str] = ()) -> str:
    """The text with the skipped sections (see :func:`story_spans`) replaced by spaces: same length, same offsets."""
    if not skip:
        return text
    parts, position = [], 0
    for start, end in story_spans(text, skip):
        parts += [re.sub(r"[^\n]", " ", text[position:start]), text[start:end]]
        position = end
    parts.append(re.sub(r"[^\n]", " ", text[position:]))
    return "".join(parts)
