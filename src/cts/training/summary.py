"""Sweep summary: after a multirun, one table (CSV + Markdown) of every job's model, size, train time and test
metrics, read from the ``summary.json`` each run writes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per finished job under ``sweep_dir`` (jobs without ``summary.json`` failed and are counted)."""
    sweep_dir = Path(sweep_dir)
    rows, failed = [], []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: (len(p.name), p.name)):
        path = job / "summary.json"
        if not path.exists():
            failed.append(job.name)
            continue
        summary = json.loads(path.read_text())
        metrics = {k: v for k, v in summary["metrics"].items() if k.startswith("test/") and isinstance(v, float)}
        rows.append({"job": job.name, "overrides": " ".join(summary["overrides"]), "model": summary["model"],
                     "params": summary["params_total"], "train_time_s": summary["train_time_s"], **metrics})
    if failed:
        log.warning("%s: %d job(s) without summary.json (failed or still running): %s", sweep_dir, len(failed),
                    ", ".join(failed))
    return pd.DataFrame(rows)


def to_markdown(frame: pd.DataFrame) -> str:
    def cell(column: str, value):
        if isinstance(value, float):
            return f"{value:.4f}" if column.startswith("test/") else f"{value:,.1f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, row)) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_sweep_summary(sweep_dir: str | Path) -> pd.DataFrame:
    frame = collect(sweep_dir)
    if frame.empty:
        log.warning("%s: no finished jobs to summarize", sweep_dir)
        return frame
    frame.to_csv(Path(sweep_dir) / "summary.csv", index=False)
    markdown = to_markdown(frame)
    (Path(sweep_dir) / "summary.md").write_text(markdown)
    print(f"\nsweep summary ({sweep_dir}/summary.csv, summary.md):\n{markdown}")
    return frame


class SweepSummary(Callback):
    """Hydra callback: writes the sweep summary when a multirun ends (all launchers, SLURM included)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        write_sweep_summary(config.hydra.sweep.dir)
