"""The one output schema every backend enforces at decoding time (``llm.structured=true``), in two equivalent forms:

- ``LINE_GRAMMAR``: the ``event | hours`` lines of :mod:`cts.data.timelines` (or ``none``) as an EBNF grammar, for
  engines that take a grammar (``hf`` through xgrammar, in-process ``vllm``). The reply is the timeline text itself.
- ``EVENTS_SCHEMA``: ``{"events": [{"event": string, "hours": number}, ...]}`` as a JSON schema, for OpenAI-compatible
  servers (``response_format`` ``json_schema``: vLLM's and llama.cpp's servers, hosted APIs). :func:`json_to_lines`
  turns such a reply back into the line format, so parsing, rejects and evaluation stay one code path.

Every line the grammar admits is read by :func:`cts.data.timelines.parse_line` as an event (an event starting with a
letter or digit, at most ``GRAMMAR_EVENT_CHARS`` <= ``MAX_EVENT_CHARS`` characters, hours of at most six digits: below
``MAX_ABS_HOURS``), so the only rejects left under the grammar are lines cut at the token limit.
"""

from __future__ import annotations

import json

from cts.data.timelines import format_line, hours_of

# An event is a short phrase: the demo's 11,235 reference events are at most 51 characters (99th percentile 41).
# Bounding it makes a small model close the line with its time instead of copying a whole sentence as the "event".
GRAMMAR_EVENT_CHARS = 100
# The event's first character is a letter or digit (nothing clean_event would strip to empty); no "|" or line break.
LINE_GRAMMAR = rf"""root ::= "none" | (line "\n")* line "\n"?
line ::= event " | " hours
event ::= [A-Za-z0-9] [^|\n\r]{{0,{GRAMMAR_EVENT_CHARS - 2}}} [^|\n\r ]
hours ::= "-"? [0-9]{{1,6}} ("." [0-9]{{1,3}})?
"""

EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"event": {"type": "string"}, "hours": {"type": "number"}},
                "required": ["event", "hours"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["events"],
    "additionalProperties": False,
}

RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "timeline", "schema": EVENTS_SCHEMA, "strict": True}}


def json_to_lines(text: str) -> str:
    """``event | hours`` lines from a reply in ``EVENTS_SCHEMA`` form (``none`` for an empty list). A reply cut at the
    token limit keeps its complete items and ends with the cut one (which the parser rejects); text that is not such
    a reply is returned unchanged (a server that ignored ``response_format`` answered in free text, which the line
    parser reads and counts)."""
    start = text.find("[", text.find('"events"'))
    if '"events"' not in text or start < 0:
        return text
    decoder, position, lines = json.JSONDecoder(), start + 1, []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        try:
            item, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            break  # "]" (the end), an item cut off at the token limit, or one no JSON reader takes
        lines.append(_item_line(item))
    rest = " ".join(text[position:].split())
    if rest and not rest.startswith("]"):
        lines.append(rest)  # the cut item: the last line, rejected as cut off (or as unreadable), never dropped
    return "\n".join(lines) if lines else "none"


def _item_line(item) -> str:
    """One item as a line; one the line format cannot carry (no text event, hours that are not a finite number:
    ``true``, ``NaN``, ``1e999``, ``"48"``) is passed on as its JSON text, which the line parser rejects and counts."""
    event = item.get("event") if isinstance(item, dict) else None
    hours = hours_of(item.get("hours")) if isinstance(item, dict) else None
    event = " ".join(event.replace("|", " ").split()) if isinstance(event, str) else ""
    return format_line(event, hours) if event and hours is not None else json.dumps(item)
