"""Small helpers shared by every stage."""

from __future__ import annotations

import logging


def announce(message: str, logger: str = "cts") -> None:
    """A run summary for the user: through logging when a handler is set (Hydra runs), else to stdout."""
    if logging.getLogger().hasHandlers():
        logging.getLogger(logger).info(message)
    else:
        print(message)
