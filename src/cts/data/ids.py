"""Admission and subject ids: non-negative integers that fit int64, parsed from their text, never through a float
(a float holds integers exactly only up to 2^53, so 9007199254740993 would become ...992 and two admissions merge).

``ID_TEXT`` is the one grammar (digits, optionally ``+`` and a ``.0`` tail that exporters add to integer columns);
the event-table reader applies it vectorized, ``parse_id`` one value at a time (notes, annotation files).
"""

from __future__ import annotations

import re

INT64_MAX = (1 << 63) - 1
ID_TEXT = r"^\s*\+?0*(?P<digits>\d+)(?:\.0*)?\s*$"
_ID = re.compile(ID_TEXT.replace(r"\d", "[0-9]").replace(r"\s", r"[ \t]"))  # ASCII only: int("²") is no id


def parse_id(value) -> int | None:
    """The id in ``value`` (text or int), or None when it is missing, negative, not an integer or beyond int64."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if 0 <= value <= INT64_MAX else None
    if not isinstance(value, str):
        return None
    match = _ID.match(value)
    if match is None:
        return None
    number = int(match.group("digits"))
    return number if number <= INT64_MAX else None
