"""The per-run report, written by the runner on rank zero at the end of a run: figures in the run dir, the same
figures to the loggers that take images (W&B), and one self-contained ``report.html``.

Figures: ``model_vs_baselines.png`` (every test metric of ``summary.json``, the model and each baseline with their
95% intervals), ``learning_curves.png`` (from the CSV logger's ``metrics.csv``, per epoch) and the task's own
(``TaskModule.test_figures``: confusion matrix, ROC/PR/reliability, accuracy, error distribution …). Every figure
here shows numbers only (counts, rates, errors): they may go to a logger; event or note text never does.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch.loggers import Logger, WandbLogger
from matplotlib.figure import Figure

from cts.reports import html
from cts.reports.intervals import with_interval
from cts.viz import figures

log = logging.getLogger(__name__)

REPORT = "report.html"


def test_rows(summary: dict) -> list[dict]:
    """The model and each baseline on every test metric that has an interval, as ``value [lo, hi]`` cells."""
    names = [k for k in summary.get("ci95") or {} if k.startswith("test/")]
    rows = [{"": "model", **{k.removeprefix("test/"): with_interval(summary["metrics"].get(k), summary["ci95"][k])
                             for k in names}}]
    for name, values in (summary.get("baselines") or {}).items():
        rows.append({"": name, **{k.removeprefix("test/"): with_interval(values.get(k), values["ci95"].get(k))
                                  for k in names}})
    return rows


def best_baseline_line(summary: dict) -> str | None:
    """Model − best baseline on the headline metric, then on each ``also_compared`` metric, one line each."""
    blocks = [block for block in (summary.get("best_baseline"), *(summary.get("also_compared") or [])) if block]
    if not blocks:
        return None
    return "\n".join(f"model − best baseline ({best['name']}) on {best['metric_name']}: "
                     f"{with_interval(best['delta'], best['delta_ci95'], '+.3f')}" for best in blocks)


def learning_curves(run_dir: Path, monitor: str | None = None,
                    max_panels: int = 6) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per-epoch panels from the newest ``csv/version_*/metrics.csv``: ``loss`` (train and val), the monitored
    metric, then other ``val/`` metrics (the last value logged in each epoch), at most ``max_panels``. Empty without
    a CSV log."""
    versions = sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    if not versions:
        return {}
    frame = pd.read_csv(versions[-1])
    if "epoch" not in frame:
        return {}

    def curve(name: str) -> tuple[np.ndarray, np.ndarray]:
        series = frame[["epoch", name]].dropna().groupby("epoch")[name].last()
        return series.index.to_numpy(), series.to_numpy()

    panels = {"loss": {name: curve(name) for name in ("train/loss", "val/loss") if name in frame}}
    others = sorted(c for c in frame if c.startswith("val/") and c != "val/loss" and not c.endswith("_best"))
    if monitor in others:
        others.remove(monitor)
        others.insert(0, monitor)
    for name in others[: max_panels - 1]:
        panels[name] = {name: curve(name)}
    return panels


def run_figures(summary: dict, run_dir: Path, task_figures: dict[str, Figure]) -> dict[str, Figure]:
    """Every figure of the run, by file stem."""
    title = f"{summary.get('task')} · {summary.get('model')} · {summary.get('data')}"
    monitor = (summary.get("optimized_metric") or "").removesuffix("_best")
    drawn = {"model_vs_baselines": figures.model_vs_baselines_figure(summary, f"test, 95% intervals — {title}"),
             "learning_curves": figures.learning_curves_figure(learning_curves(run_dir, monitor),
                                                               f"learning curves — {title}")}
    return {name: figure for name, figure in {**drawn, **task_figures}.items() if figure is not None}


def log_figures(paths: dict[str, Path], loggers: list[Logger]) -> None:
    """Images to W&B (``test/<name>``); the CSV logger keeps files only (they are in its run dir already)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            for name, path in paths.items():
                logger.log_image(f"test/{name}", images=[str(path)])


def report_page(summary: dict, paths: dict[str, Path]) -> tuple[str, list[str]]:
    """(title, parts) of ``report.html``."""
    identity = {key: summary.get(key) for key in ("run_name", "task", "data", "model", "family", "params",
                                                   "params_trainable", "seed", "optimized_metric", "train_time_s",
                                                   "test_checkpoint")}
    identity["overrides"] = " ".join(summary.get("overrides") or []) or "(none)"
    parts = [html.section("Run", html.key_values(identity))]
    rows = test_rows(summary)
    if len(rows[0]) > 1:
        best = best_baseline_line(summary)
        parts.append(html.section("Test: model and baselines (95% bootstrap intervals, resampled by admission)",
                                  html.table(rows), html.paragraph(best) if best else ""))
    else:
        tested = {k: v for k, v in summary.get("metrics", {}).items() if k.startswith("test/")}
        parts.append(html.section("Test metrics (no intervals: the task has no test evaluation)",
                                  html.key_values(tested) if tested else html.paragraph("not tested", "note")))
    parts.append(html.section("Figures", *(html.figure(path, name.replace("_", " ")) for name, path in paths.items())))
    return f"Run report: {summary.get('task')} · {summary.get('model')} · {summary.get('data')}", parts


def write_run_report(run_dir: str | Path, summary: dict, module, datamodule, loggers: list[Logger],
                     tested: bool = True) -> Path:
    """Save the run's figures as PNGs in ``run_dir``, log them, write ``report.html``; returns its path. The task's
    figures only when the run was tested."""
    run_dir, start = Path(run_dir), time.perf_counter()
    task_figures = module.test_figures(datamodule, summary) if tested else {}
    paths = {name: figures.save_figure(figure, run_dir / f"{name}.png")
             for name, figure in run_figures(summary, run_dir, task_figures).items()}
    log_figures(paths, loggers)
    title, parts = report_page(summary, paths)
    path = html.write_page(run_dir / REPORT, title, parts, "Written by train.py at the end of the run; numbers from "
                                                           "summary.json, curves from the CSV log.")
    log.info("run report: %s (%d figures, %.1f s)", path, len(paths), time.perf_counter() - start)
    return path
