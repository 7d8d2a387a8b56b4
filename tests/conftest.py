"""Shared test setup: offline, repository root on the path, a small demo corpus generated once per session."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["CTS_ROOT"] = str(ROOT)


def require_shared(*parts: str) -> Path:
    """Path under ../shared/data, or skip with the reason when it is absent (users' machines lack it)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is only beside CI and development checkouts)")
    return path
