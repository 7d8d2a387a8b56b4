"""Markdown pages with text from the data (event strings, file names, override values) shown as text: a renderer
must never see raw HTML (``<script>``, ``<img onerror=...>``), a link (``[x](javascript:...)``), emphasis or a
table cell boundary (``|``) that the text happens to contain.
"""

from __future__ import annotations

import html
import re

_MARKUP = re.compile(r"([\\`*\[\]|~])")


def escape(text) -> str:
    """``text`` as literal Markdown inline text: HTML-escaped (``<`` → ``&lt;``), Markdown punctuation
    backslash-escaped, line breaks as spaces (a line break would end a table row or a list item). Underscores stay
    (names like ``val/macro_f1`` read as typed): inside a word they are not emphasis."""
    flat = " ".join(str(text).splitlines())
    return _MARKUP.sub(r"\\\1", html.escape(flat, quote=False))


def table(rows: list[dict]) -> list[str]:
    """Rows (dicts with the same keys) as Markdown table lines; integers with thousands separators."""

    def cell(value) -> str:
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else escape(value)

    return ["| " + " | ".join(escape(k) for k in rows[0]) + " |", "|" + "---|" * len(rows[0]),
            *("| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows)]


def frame_table(frame, **to_markdown) -> str:
    """A DataFrame as a Markdown table (pandas' ``to_markdown``) with its text cells and headers escaped."""
    text = [c for c in frame.columns if frame[c].dtype.kind not in "biufcmM"]
    safe = frame.assign(**{c: frame[c].map(lambda v: escape(v) if isinstance(v, str) else v) for c in text})
    safe.columns = [escape(c) for c in frame.columns]
    return safe.to_markdown(index=False, **to_markdown)
