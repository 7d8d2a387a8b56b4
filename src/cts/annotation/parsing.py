"""Parse LLM timeline output (``event | hours`` lines) tolerantly, keeping every rejected line and why.

The authors parsed a line only when it held exactly one ``|``; models also number lines, add bullets, draw markdown
tables, write units (``48 h``, ``2 days ago``), ranges (``24-48``) and prose. We accept all of those, and every line
we cannot read is returned as a reject with its reason so nothing disappears silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# Hours per unit; vague durations follow the prompt's convention (1 week = 168 h, 1 month = 720 h).
UNIT_HOURS = {
    "s": 1 / 3600, "sec": 1 / 3600, "secs": 1 / 3600, "second": 1 / 3600, "seconds": 1 / 3600,
    "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
    "h": 1, "hr": 1, "hrs": 1, "hour": 1, "hours": 1,
    "d": 24, "day": 24, "days": 24,
    "w": 168, "wk": 168, "wks": 168, "week": 168, "weeks": 168,
    "mo": 720, "mos": 720, "month": 720, "months": 720,
    "y": 8760, "yr": 8760, "yrs": 8760, "year": 8760, "years": 8760,
}
_UNIT = "|".join(sorted((re.escape(u) for u in UNIT_HOURS), key=len, reverse=True))
_NUM = r"\d+(?:\.\d+)?|\.\d+"
_BEFORE = r"ago|before(?:\s+(?:the\s+)?admission)?|prior(?:\s+to\s+(?:the\s+)?admission)?|earlier|pre-?admission"
_AFTER = r"after(?:\s+(?:the\s+)?admission)?|later|post-?admission|since\s+admission|into\s+(?:the\s+)?admission"
_TIME = re.compile(
    rf"""^(?:t\s*=\s*|time\s*[:=]\s*)?(?:~|≈|approx\.?|approximately|about|around|circa|ca\.)?\s*
    (?P<sign>[-+−–])?\s*(?P<num>{_NUM})\s*(?P<unit>{_UNIT})?\.?
    (?:\s*(?:-|–|—|to|until)\s*[-+−–]?\s*(?:{_NUM})\s*(?:{_UNIT})?\.?)?   # a range: keep its start
    \s*(?:(?P<before>{_BEFORE})|(?P<after>{_AFTER}))?
    \s*(?:\(.*\)|\[.*\])?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_ADMISSION = re.compile(r"^(?:at\s+|on\s+)?(?:admission|presentation|arrival)$", re.IGNORECASE)
_NONE = re.compile(r"^(?:none|no events?(?: found| identified)?|n/?a|nil)\.?$", re.IGNORECASE)
# "a." / "A)" enumerate; "C. tetani", "E. coli" abbreviate a genus, so a capital letter only counts before ")".
_BULLET = re.compile(r"^\s*(?:(?:\d{1,3}|[a-z])[.)]\s+|[A-Z]\)\s+|[-*•·▪‣◦]\s+|\[\d+\]\s*)")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_HEADER_WORDS = {"event", "events", "hours", "hour", "time", "time (hours)", "hours from admission", "timestamp",
                 "relative time", "hours relative to admission", "clinical event"}
_SEPARATORS = ("\t", " : ", ": ", " - ", " – ", ", ")
MAX_EVENT_CHARS = 300
MAX_ABS_HOURS = 150 * 8760  # beyond a lifetime: a misread number, not a time


@dataclass
class Reject:
    line: str
    reason: str


@dataclass
class ParseResult:
    events: list[tuple[str, float]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    said_none: bool = False


def parse_hours(text: str) -> float | None:
    """Hours relative to admission from ``-48``, ``+24``, ``48h``, ``2 days ago``, ``24-48`` (start); else None."""
    cleaned = text.strip().strip("*_`'\"").strip()
    if _ADMISSION.match(cleaned):
        return 0.0
    match = _TIME.match(cleaned)
    if not match:
        return None
    hours = float(match["num"]) * UNIT_HOURS[match["unit"].lower()] if match["unit"] else float(match["num"])
    negative = match["sign"] in ("-", "−", "–") or bool(match["before"])
    hours = -hours if negative else hours
    return hours if math.isfinite(hours) and abs(hours) <= MAX_ABS_HOURS else None


def _clean_event(text: str) -> str:
    text = _BULLET.sub("", text.strip())
    text = text.strip().strip("*_`'\"").strip().rstrip(":;,").strip()
    return re.sub(r"\s+", " ", text)


def _split_line(line: str) -> tuple[str, str] | None:
    """(event, time text) from a pipe-separated or table line, or a line with another separator and a time."""
    if "|" in line:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        cells = [c for c in cells if c]
        for position in range(len(cells) - 1, 0, -1):
            if parse_hours(cells[position]) is not None:
                return " ".join(cells[:position]), cells[position]
        return (" ".join(cells[:-1]), cells[-1]) if len(cells) >= 2 else None
    for separator in _SEPARATORS:
        if separator in line:
            event, _, time = line.rpartition(separator)
            if parse_hours(time) is not None:
                return event, time
    return None


def _is_decoration(line: str) -> bool:
    """Code fences, table rules and header rows carry no event and are not counted as rejects."""
    if line.startswith("```") or _TABLE_RULE.match(line):
        return True
    cells = [c.strip().strip("*").lower() for c in line.strip("|").split("|")]
    return len(cells) >= 2 and all(c in _HEADER_WORDS for c in cells if c)


def parse_output(text: str, truncated: bool = False) -> ParseResult:
    """Events and rejects from one model output; ``truncated`` (hit the token limit) rejects the cut last line."""
    result = ParseResult()
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        result.rejects.append(Reject("", "empty output"))
        return result
    if len(lines) == 1 and _NONE.match(_clean_event(lines[0])):
        result.said_none = True
        return result
    for number, line in enumerate(lines):
        if truncated and number == len(lines) - 1:
            result.rejects.append(Reject(line, "cut off at the token limit"))
            continue
        if _is_decoration(line) or _NONE.match(_clean_event(line)):
            continue
        split = _split_line(_BULLET.sub("", line))
        if split is None:
            result.rejects.append(Reject(line, "no 'event | hours' separator"))
            continue
        event, time_text = _clean_event(split[0]), split[1]
        hours = parse_hours(time_text)
        if hours is None:
            result.rejects.append(Reject(line, "time is not a number of hours"))
        elif not event:
            result.rejects.append(Reject(line, "empty event"))
        elif len(event) > MAX_EVENT_CHARS:
            result.rejects.append(Reject(line, f"event longer than {MAX_EVENT_CHARS} characters"))
        else:
            result.events.append((event, hours))
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
