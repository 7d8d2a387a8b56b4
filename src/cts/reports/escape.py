"""The one escaping rule of every page: text from the data (event strings, note text, file names, override values)
is shown as text. A browser or Markdown renderer must never see raw HTML (``<script>``, ``<img onerror=...>``), a link
(``[x](javascript:...)``), emphasis or a table cell boundary (``|``) that the text happens to contain.
"""

from __future__ import annotations

import html as _html
import re

_MARKUP = re.compile(r"([\\`*\[\]|~])")


def html(text) -> str:
    """``text`` as HTML text or a quoted attribute value (``& < > " '`` escaped)."""
    return _html.escape(str(text), quote=True)


def markdown(text) -> str:
    """``text`` as literal Markdown inline text: HTML-escaped (``<`` → ``&lt;``), Markdown punctuation
    backslash-escaped, line breaks as spaces (a line break would end a table row or a list item). Underscores stay
    (names like ``val/macro_f1`` read as typed): inside a word they are not emphasis."""
    flat = " ".join(str(text).splitlines())
    return _MARKUP.sub(r"\\\1", _html.escape(flat, quote=False))
