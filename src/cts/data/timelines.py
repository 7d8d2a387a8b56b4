"""The ``event | hours`` timeline format: one grammar for reading it everywhere, one way to write it.

Timelines are what the annotation LLM writes, what the reference files hold (``*.bsv``) and what coverage and
evaluation read. LLMs number lines, add bullets, draw markdown tables, write units (``48 h``, ``2 days ago``),
ranges (``24-48``), other separators (`` - ``, ``, ``, ``: ``, a tab) and prose; all of that is read here, and
every line that cannot be read is returned as a :class:`Reject` with its reason, so nothing disappears silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
MINUS_SIGNS = ("-", "−", "–")  # hyphen-minus, U+2212 minus, U+2013 en dash (LLMs write all three)
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
SEPARATORS = ("\t", " : ", ": ", " - ", " – ", ", ")  # tried in order when a line has no "|"
MAX_EVENT_CHARS = 300
MAX_ABS_HOURS = 150 * 8760  # beyond a lifetime: a misread number, not a time


@dataclass
class Reject:
    line: str
    reason: str


@dataclass
class Timeline:
    """Events read from a text, and the lines that could not be read (with why)."""

    events: list[tuple[str, float]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def parse_hours(text: str) -> float | None:
    """Hours relative to admission from ``-48``, ``–48`` (en dash), ``+24``, ``.5``, ``48h``, ``2 days ago``,
    ``24-48`` (its start), ``at admission`` (0); None for anything else, non-finite or beyond a lifetime."""
    cleaned = text.strip().strip("*_`'\"").strip()
    if _ADMISSION.match(cleaned):
        return 0.0
    match = _TIME.match(cleaned)
    if not match:
        return None
    hours = float(match["num"]) * UNIT_HOURS[match["unit"].lower()] if match["unit"] else float(match["num"])
    return _within_a_lifetime(-hours if match["sign"] in MINUS_SIGNS or match["before"] else hours)


def hours_of(value) -> float | None:
    """Hours from a JSON value: a number (not a boolean: ``true`` is not 1 hour, nor is the text ``"48"`` a
    number), finite and within a lifetime; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return _within_a_lifetime(float(value))
    except OverflowError:  # an integer too large for a float
        return None


def _within_a_lifetime(hours: float) -> float | None:
    return hours if math.isfinite(hours) and abs(hours) <= MAX_ABS_HOURS else None


def clean_event(text: str) -> str:
    """Event text without list markers, markdown emphasis, trailing punctuation or repeated spaces."""
    text = _BULLET.sub("", text.strip())
    text = text.strip().strip("*_`'\"").strip().rstrip(":;,").strip()
    return re.sub(r"\s+", " ", text)


def split_line(line: str) -> tuple[str, str] | None:
    """(event, time text) from a pipe-separated or table line (the last cell that is a time is the time), or from
    a line with another separator whose right side is a time."""
    if "|" in line:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        cells = [c for c in cells if c]
        for position in range(len(cells) - 1, 0, -1):
            if parse_hours(cells[position]) is not None:
                return " ".join(cells[:position]), cells[position]
        return (" ".join(cells[:-1]), cells[-1]) if len(cells) >= 2 else None
    for separator in SEPARATORS:
        if separator in line:
            event, _, time = line.rpartition(separator)
            if parse_hours(time) is not None:
                return event, time
    return None


def says_none(line: str) -> bool:
    """``none`` / ``no events found`` / ``N/A``: an explicit empty timeline, not an unreadable line."""
    return bool(_NONE.match(clean_event(line)))


def is_decoration(line: str) -> bool:
    """Code fences, table rules and header rows carry no event and are not counted as rejects."""
    if line.startswith("```") or _TABLE_RULE.match(line):
        return True
    cells = [c.strip().strip("*").lower() for c in line.strip("|").split("|")]
    return len(cells) >= 2 and all(c in _HEADER_WORDS for c in cells if c)


def parse_line(line: str) -> tuple[str, float] | Reject | None:
    """One line: ``(event, hours)``, a :class:`Reject` with its reason, or None for a line that carries nothing
    (blank, decoration, ``none``)."""
    line = line.strip()
    if not line or is_decoration(line) or says_none(line):
        return None
    split = split_line(_BULLET.sub("", line))
    if split is None:
        return Reject(line, "no 'event | hours' separator")
    event, hours = clean_event(split[0]), parse_hours(split[1])
    if hours is None:
        return Reject(line, "time is not a number of hours")
    if not event:
        return Reject(line, "empty event")
    if len(event) > MAX_EVENT_CHARS:
        return Reject(line, f"event longer than {MAX_EVENT_CHARS} characters")
    return event, hours


def lines_of(text: str) -> list[str]:
    """Non-blank, stripped lines (``\\r\\n`` and bare ``\\r`` end lines too)."""
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def parse_lines(lines: list[str]) -> Timeline:
    """Every line read with :func:`parse_line`: events and rejects in line order."""
    timeline = Timeline()
    for line in lines:
        parsed = parse_line(line)
        if isinstance(parsed, Reject):
            timeline.rejects.append(parsed)
        elif parsed is not None:
            timeline.events.append(parsed)
    return timeline


def parse_timeline(text: str) -> Timeline:
    """A whole timeline text."""
    return parse_lines(lines_of(text))


def read_timeline(path: str | Path) -> Timeline:
    """A ``event | hours`` file (undecodable bytes replaced, so one bad byte costs one line, not the file)."""
    return parse_timeline(Path(path).read_text(encoding="utf-8", errors="replace"))


def format_hours(hours: float) -> str:
    """Shortest exact positional text of an hour value: ``48``, ``-2.5``, ``0.00001`` (never ``-0`` or ``1e-05``,
    which :func:`parse_hours` would not read back)."""
    return np.format_float_positional(float(hours) + 0.0, trim="-")


def format_line(event: str, hours: float) -> str:
    """``event | hours``; refuses what the format cannot carry back (a line break or ``|`` in the event, a
    non-finite time)."""
    if "|" in event or "\n" in event or "\r" in event:
        raise ValueError("an event in a timeline cannot hold '|' or a line break")
    if not math.isfinite(hours):
        raise ValueError(f"a timeline time must be finite, got {hours}")
    return f"{event} | {format_hours(hours)}"


def format_timeline(events: list[tuple[str, float]]) -> str:
    """Lines of :func:`format_line`, newline-terminated; :func:`parse_timeline` reads them back unchanged."""
    return "".join(format_line(event, hours) + "\n" for event, hours in events)
