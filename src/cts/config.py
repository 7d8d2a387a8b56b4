"""OmegaConf resolvers shared by every entry point (registered when ``cts`` is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf


def _first_set(value, default):
    """``${cts.or:${input},DEFAULT}``: the user's value, or the default when it is null/empty."""
    return default if value in (None, "", "null", "None") else value


def _slurm_gres(accelerator, devices):
    """``${cts.slurm_gres:ACCELERATOR,DEVICES}``: ``gpu:N`` for a GPU trainer, null (no GPU requested) otherwise."""
    return f"gpu:{devices}" if str(accelerator).lower() in ("gpu", "cuda") else None


class MissingSetting(ValueError):
    """A setting an experiment requires from the command line."""


def _required(key, what):
    """``${cts.required:KEY,WHAT}``: a value the command line must give (``KEY=...``); resolving it is an error that
    says so. (``???`` cannot do this in an experiment: OmegaConf's merge keeps the earlier value over ``???``.)"""
    raise MissingSetting(f"this experiment needs {key}={what} on the command line")


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("cts.required", _required, replace=True)
    OmegaConf.register_new_resolver("cts.or", _first_set, replace=True)
    OmegaConf.register_new_resolver("cts.slurm_gres", _slurm_gres, replace=True)
