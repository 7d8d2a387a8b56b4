"""Markdown tables whose text cells and headers are escaped (``cts.reports.escape``)."""

from __future__ import annotations

from cts.reports import escape


def table(rows: list[dict]) -> list[str]:
    """Rows (dicts with the same keys) as Markdown table lines; integers with thousands separators."""

    def cell(value) -> str:
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else escape.markdown(value)

    return ["| " + " | ".join(escape.markdown(k) for k in rows[0]) + " |", "|" + "---|" * len(rows[0]),
            *("| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows)]


def frame_table(frame, **to_markdown) -> str:
    """A DataFrame as a Markdown table (pandas' ``to_markdown``) with its text cells and headers escaped."""
    text = [c for c in frame.columns if frame[c].dtype.kind not in "biufcmM"]
    safe = frame.assign(**{c: frame[c].map(lambda v: escape.markdown(v) if isinstance(v, str) else v) for c in text})
    safe.columns = [escape.markdown(c) for c in frame.columns]
    return safe.to_markdown(index=False, **to_markdown)


def rounded_table(frame) -> str:
    """``frame_table`` with numbers rounded to 4 digits and text shown as typed (no number parsing: an override value
    ``1e-4`` stays ``1e-4``)."""
    return frame_table(frame.round(4), disable_numparse=True)
