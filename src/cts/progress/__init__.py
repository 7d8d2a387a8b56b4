"""The one home of progress reporting: a tqdm bar on a terminal, a plain line every ``interval_s`` otherwise (SLURM
logs), nothing when progress is off; :class:`StepProgress` for the named steps of a bulk stage; and, for the
Lightning trainer, :class:`cts.progress.trainer.PlainProgressBar` (a module of its own: it imports Lightning).

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
        self.set_postfix_str(", ".join(f"{k}={v}" for k, v in values.items()))

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        log.info(self.line())


class Silent:
    """Progress that is off: the same interface, no output (no tqdm bar, which would still draw off a terminal)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, values: dict, refresh: bool = True) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int | None, desc: str, unit: str, enabled: bool = True, interval_s: float = 60.0):
    """A tqdm bar with ``total`` when stdout is a terminal, else :class:`PlainProgress`; ``enabled=False``:
    :class:`Silent`."""
    if not enabled:
        return Silent()
    if not sys.stdout.isatty():
        return PlainProgress(total, desc, unit, interval_s)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0)


class StepProgress:
    """The named steps of a bulk (vectorized) stage: a bar naming the step under way on a terminal, in a log a line
    as each step ends (naming it) and ``done``."""

    def __init__(self, description: str, steps: list[str]):
        self._bar = progress(len(steps), description, "step", interval_s=0.0)
        self._steps = iter(steps)
        self._bar.set_postfix_str(next(self._steps, ""))

    def advance(self) -> None:
        self._bar.update(1)
        self._bar.set_postfix_str(next(self._steps, "done"))

    def close(self) -> None:
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
