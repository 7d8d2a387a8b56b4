"""Progress of a long stage: a tqdm bar on a terminal, a plain line every ``interval_s`` otherwise (SLURM logs).

A redirected tqdm bar writes one carriage-return frame per refresh into the log file, which ``less`` and ``tail``
show as one huge line; the plain form logs ``desc: n/total (p%), rate unit/s, ETA h:mm:ss | postfix`` instead.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta

log = logging.getLogger("cts.progress")


class PlainProgress:
    """The part of tqdm's interface the stages use (update, set_postfix, close), printed as log lines."""

    def __init__(self, total: int | None, desc: str, unit: str, interval_s: float = 60.0):
        self.total, self.desc, self.unit, self.interval_s = total, desc, unit, interval_s
        self.n, self.postfix = 0, ""
        self.started = self.last = time.monotonic()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.n}/{self.total} {self.unit}s ({100 * self.n / self.total:.1f}%)" if self.total
                 else f"{self.n} {self.unit}s", f"{rate:.2f} {self.unit}/s"]
        if self.total and rate > 0:
            parts.append(f"ETA {timedelta(seconds=round((self.total - self.n) / rate))}")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + ", ".join(parts)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            log.info(self.line())

    def set_postfix(self, values: dict, refresh: bool = True) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        log.info(self.line())


def progress(total: int | None, desc: str, unit: str, enabled: bool = True, interval_s: float = 60.0):
    """A tqdm bar with ``total`` when stdout is a terminal, else :class:`PlainProgress`; ``enabled=False``: silent
    tqdm (same interface, no output)."""
    from tqdm.auto import tqdm

    if not enabled or sys.stdout.isatty():
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, mininterval=1.0)
    return PlainProgress(total, desc, unit, interval_s)
