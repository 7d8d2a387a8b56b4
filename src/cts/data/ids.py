"""Admission and subject ids: non-negative integers that fit int64, parsed from their text, never through a float
(a float holds integers exactly only up to 2^53, so 9007199254740993 would become ...992 and two admissions merge).

``ID_TEXT`` is the one grammar (digits, optionally ``+`` and a ``.0`` tail that exporters add to integer columns);
``parse_ids`` applies it to an Arrow column (event tables, admissions), ``parse_id`` to one value (notes, annotation
files).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT64_MAX = (1 << 63) - 1
ID_TEXT = r"^\s*\+?0*(?P<digits>\d+)(?:\.0*)?\s*$"
_MAX_TEXT = str(INT64_MAX)
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


def parse_ids(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """int64 ids (0 where invalid) and a validity mask, for a text or integer column: missing, negative,
    non-integer and beyond-int64 ids are invalid; the caller counts or refuses them."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        digits = pc.struct_field(pc.extract_regex(column, ID_TEXT), [0])  # null where the text is no integer
        length = pc.utf8_length(digits)
        fits = pc.or_(pc.less(length, len(_MAX_TEXT)),
                      pc.and_(pc.equal(length, len(_MAX_TEXT)), pc.less_equal(digits, _MAX_TEXT)))
        valid = pc.fill_null(fits, False)
        values = pc.cast(pc.if_else(valid, digits, "0"), pa.int64())
        return values.to_numpy(zero_copy_only=False), valid.to_numpy(zero_copy_only=False)
    if pa.types.is_unsigned_integer(column.type):
        valid = pc.fill_null(pc.less_equal(column, pa.scalar(INT64_MAX, column.type)), False)
        values = pc.cast(pc.if_else(valid, column, pa.scalar(0, column.type)), pa.int64())
        return values.to_numpy(zero_copy_only=False), valid.to_numpy(zero_copy_only=False)
    values = pc.cast(pc.fill_null(column, -1), pa.int64()).to_numpy(zero_copy_only=False)
    return values, values >= 0
