"""How an estimate reads on every page, table and log line: the value with its 95% interval."""

from __future__ import annotations


def with_interval(value, interval, spec: str = ".3f") -> str:
    """``0.812 [0.790, 0.833]``; ``n/a`` for a missing value, no brackets without both bounds."""
    if value is None:
        return "n/a"
    lo, hi = interval or (None, None)
    shown = f" [{lo:{spec}}, {hi:{spec}}]" if lo is not None and hi is not None else ""
    return f"{value:{spec}}{shown}"
