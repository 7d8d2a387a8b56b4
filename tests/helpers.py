"""Helpers shared by the figure and page tests (tests/viz/, tests/reports/): a PNG's size after checking its header,
and a fixture run's summary.json."""

import struct


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature and header chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path}: {len(data)} bytes is an empty picture"
    return struct.unpack(">II", data[16:24])


SUMMARY = {"run_name": "fixture", "task": "relation", "data": "demo", "model": "bert-tiny", "family": "bert",
           "params": 10, "seed": 1, "overrides": ["model=bert"], "optimized_metric": "val/macro_f1_best",
           "metrics": {"test/acc": 0.6, "test/macro_f1": 0.5, "test/loss": 0.9},
           "ci95": {"test/acc": [0.5, 0.7], "test/macro_f1": [0.4, 0.6]},
           "baselines": {"majority": {"test/acc": 0.4, "test/macro_f1": 0.2,
                                      "ci95": {"test/acc": [0.3, 0.5], "test/macro_f1": [0.1, 0.3]}}},
           "best_baseline": {"metric_name": "test/macro_f1", "name": "majority", "value": 0.2, "delta": 0.3,
                             "delta_ci95": [0.1, 0.5]}}
