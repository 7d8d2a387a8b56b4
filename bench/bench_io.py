"""What every benchmark shares: the machine's description and load, and writing a result as strict JSON.

NaN and infinities (a metric with nothing to average) are written as ``null`` so strict parsers (``jq``, browsers,
``json.loads(..., parse_constant=...)``) read the files; through ``cts.io`` so a killed run leaves no partial file.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

from cts.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def finite(value):
    """``value`` with every NaN/±inf float replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def write_result(path: str | Path, result: dict) -> Path:
    """A benchmark's result file (``bench/results/<name>.json``), strict JSON, written atomically."""
    return write_json(path, finite(result))


def machine() -> dict:
    """Where and under what load a number was measured (the dev box is shared: the load changes results)."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": list(os.getloadavg())}
