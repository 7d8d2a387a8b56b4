"""Read one LLM reply as a timeline: the ``event | hours`` grammar of :mod:`cts.data.timelines`, plus what only a
reply has — an explicit ``none``, an empty reply, a last line cut off at the token limit — and merging the replies
of a note's windows."""

from __future__ import annotations

from dataclasses import dataclass

from cts.data.timelines import Reject, Timeline, lines_of, parse_lines, says_none


@dataclass
class ParseResult(Timeline):
    said_none: bool = False


def parse_output(text: str, truncated: bool = False) -> ParseResult:
    """Events and rejects from one model output; ``truncated`` (hit the token limit) rejects the cut last line."""
    lines = lines_of(text)
    if not lines:
        return ParseResult(rejects=[Reject("", "empty output")])
    if len(lines) == 1 and says_none(lines[0]):
        return ParseResult(said_none=True)
    read = parse_lines(lines[:-1] if truncated else lines)
    result = ParseResult(read.events, read.rejects)
    if truncated:
        result.rejects.append(Reject(lines[-1], "cut off at the token limit"))
    return result


def merge_events(parts: list[list[tuple[str, float]]]) -> tuple[list[tuple[str, float]], int]:
    """Union of events from a note's windows in order; exact repeats (same text, case-folded, and time) dropped."""
    seen, merged, duplicates = set(), [], 0
    for events in parts:
        for event, hours in events:
            key = (event.casefold(), hours)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            merged.append((event, hours))
    return merged, duplicates
