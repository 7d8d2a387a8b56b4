"""Small helpers shared by every stage."""

from __future__ import annotations

import logging


def announce(message: str, logger: str = "cts") -> None:
    """A run summary for the user: through logging when a handler is set (Hydra runs), else to stdout."""
    if logging.getLogger().hasHandlers():
        logging.getLogger(logger).info(message)
    else:
        print(message)


class StepProgress:
    """A progress bar over the named steps of a bulk (vectorized) stage, with the time each step took."""

    def __init__(self, description: str, steps: list[str]):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=len(steps), desc=description, unit="step", leave=True)
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
