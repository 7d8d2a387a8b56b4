"""OmegaConf resolvers shared by every entry point (registered when ``cts`` is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf


def _first_set(value, default):
    """``${cts.or:${input},DEFAULT}``: the user's value, or the default when it is null/empty."""
    return default if value in (None, "", "null", "None") else value


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("cts.or", _first_set, replace=True)
