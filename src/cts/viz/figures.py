"""Every figure cts draws, as functions from numbers to a matplotlib ``Figure`` (Agg, no display), and
:func:`save_figure`, the one way one reaches disk (atomic PNG, then closed).

Callers pass what they computed (counts, metrics, a timeline's events); nothing here reads files or knows a task.
A figure's title names what it shows and its N, so a PNG copied out of its folder still says what it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cts.io import atomic_path  # noqa: E402

MODEL_COLOR, BASELINE_COLOR = "#2b6cb0", "#a0aec0"
MAX_TIMELINE_EVENTS = 200  # rows drawn in one timeline PNG (the HTML page shows every event)
MAX_LABEL = 60
# Symmetric-log ticks of a time axis in hours: years, months, weeks, days, hours on both sides of admission.
TIME_TICKS = {-87600: "-10y", -8760: "-1y", -720: "-1mo", -168: "-1w", -24: "-1d", -1: "-1h", 0: "0",
              1: "1h", 24: "1d", 168: "1w", 720: "1mo", 8760: "1y", 87600: "10y"}


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically and close it."""
    path = Path(path)
    try:
        figure.tight_layout()
        with atomic_path(path, suffix=".png") as temp:
            figure.savefig(temp, dpi=dpi)
    finally:
        plt.close(figure)
    return path


def _short(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time_axis(axis, low: float, high: float, which: str = "x") -> None:
    """Symmetric-log hours (linear within ±1 h) with human ticks, admission (0) marked."""
    limit = max(abs(low), abs(high), 24.0) * 1.5
    getattr(axis, f"set_{which}scale")("symlog", linthresh=1.0)
    getattr(axis, f"set_{which}lim")(-limit, limit)
    ticks = {h: label for h, label in TIME_TICKS.items() if abs(h) <= limit}
    getattr(axis, f"set_{which}ticks")(list(ticks), list(ticks.values()))
    getattr(axis, f"set_{which}label")("hours relative to admission (symmetric log)")


# -- timelines and the dataset card --------------------------------------------------------------------------------
def timeline_figure(events: Sequence[tuple[str, float]], title: str) -> Figure:
    """One admission: a row per event (time-sorted, so labels never overlap), its time on a symmetric-log axis with
    admission at 0; event text on the left, hours on the right."""
    events = sorted(events, key=lambda e: e[1])
    shown = events[:MAX_TIMELINE_EVENTS]
    if len(shown) < len(events):
        title += f" (first {len(shown)} of {len(events)} events)"
    hours = np.array([h for _, h in shown], dtype=float)
    rows = np.arange(len(shown))
    figure, axis = plt.subplots(figsize=(10, max(2.5, 0.24 * len(shown) + 1.4)))
    colors = np.where(hours < 0, "#805ad5", np.where(hours == 0, "#2f855a", "#c05621"))
    axis.hlines(rows, 0, hours, color="#cbd5e0", linewidth=1)
    axis.scatter(hours, rows, c=colors, s=22, zorder=3)
    axis.axvline(0, color="#2f855a", linewidth=1.2)
    axis.text(0, -0.9, "admission", ha="center", va="bottom", fontsize=8, color="#2f855a")
    _time_axis(axis, *(hours.min(), hours.max()) if len(hours) else (0, 0))
    axis.set_yticks(rows, [_short(e) for e, _ in shown], fontsize=7)
    axis.set_ylim(len(shown) - 0.5, -1.2)
    right = axis.twinx()
    right.set_ylim(axis.get_ylim())
    right.set_yticks(rows, [f"{h:g} h" for h in hours], fontsize=7)
    axis.grid(axis="x", color="#edf2f7")
    axis.set_title(title)
    return figure


def histogram_figure(values: np.ndarray, title: str, xlabel: str, bins=40, color: str = "#336699") -> Figure:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.hist(values, bins=bins, color=color)
    axis.set(xlabel=xlabel, ylabel="count", title=title)
    return figure


def time_histogram_figure(time: np.ndarray, bin_edges: Sequence[float], bin_labels: Sequence[str],
                          title: str) -> Figure:
    """Event times on a signed-log scale (left) and counted in the given time bins (right)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    signed_log = np.sign(time) * np.log10(1 + np.abs(time))
    left.hist(signed_log, bins=80, color="#336699")
    ticks = {h: label for h, label in TIME_TICKS.items() if abs(h) not in (1, 168)}  # readable at this width
    left.set_xticks([np.sign(h) * np.log10(1 + abs(h)) for h in ticks], list(ticks.values()))
    left.set(xlabel="hours relative to admission (signed log scale)", ylabel="events", title=title)
    counts = np.bincount(np.searchsorted(np.asarray(bin_edges), time, side="right"), minlength=len(bin_labels))
    right.bar(range(len(bin_labels)), counts, color="#993333")
    right.set_xticks(range(len(bin_labels)), list(bin_labels), rotation=45, ha="right", fontsize=7)
    right.set_title("the authors' time bins (hours)")
    return figure


def bar_figure(values: Mapping[str, float], title: str, ylabel: str = "", horizontal: bool = False,
               percent: bool = False, color: str = "#336699") -> Figure:
    """Labelled bars with their values written on them (``percent``: values are shares 0–1)."""
    names, numbers = [_short(k, 50) for k in values], np.array(list(values.values()), dtype=float)
    shown = [f"{v:.1%}" if percent else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3g}" for v in numbers]
    if horizontal:
        figure, axis = plt.subplots(figsize=(8, max(2.5, 0.28 * len(names) + 1.2)))
        bars = axis.barh(range(len(names)), numbers, color=color)
        axis.set_yticks(range(len(names)), names, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlabel(ylabel)
    else:
        figure, axis = plt.subplots(figsize=(max(4.5, 0.9 * len(names) + 1.5), 3.6))
        bars = axis.bar(range(len(names)), numbers, color=color)
        axis.set_xticks(range(len(names)), names, rotation=20 if len(names) > 4 else 0, ha="right", fontsize=8)
        axis.set_ylabel(ylabel)
    axis.bar_label(bars, shown, fontsize=7, padding=2)
    axis.margins(x=0.12) if horizontal else axis.margins(y=0.15)
    axis.set_title(title)
    return figure


# -- training reports ----------------------------------------------------------------------------------------------
def confusion_figure(matrix: np.ndarray, labels: Sequence[str], title: str,
                     f1: Sequence[float] | None = None) -> Figure:
    """Rows = truth, columns = prediction; cells show the row percentage and the count, rows are labelled with
    their N (and F1 per class when given; a class without one, e.g. absent from the rows, shows none)."""
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    figure, axis = plt.subplots(figsize=(1.4 * len(labels) + 2.6, 1.1 * len(labels) + 1.6))
    axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    rows = [f"{name}\nN={int(n):,}" + (f", F1={f1[i]:.2f}" if f1 is not None and f1[i] is not None else "")
            for i, (name, n) in enumerate(zip(labels, totals[:, 0]))]
    axis.set_xticks(range(len(labels)), list(labels))
    axis.set_yticks(range(len(labels)), rows, fontsize=8)
    axis.set(xlabel="predicted", ylabel="true", title=title + f" (N={int(matrix.sum()):,})")
    for (row, column), value in np.ndenumerate(share):
        axis.text(column, row, f"{value:.0%}\n({int(matrix[row, column]):,})", ha="center", va="center",
                  fontsize=8, color="white" if value > 0.5 else "black")
    return figure


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float, title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    axis.plot(fpr, tpr, color=MODEL_COLOR, label=f"model (AUROC {auc:.3f})")
    axis.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate", title=title)
    axis.legend(loc="lower right", fontsize=8)
    return figure


def pr_figure(recall: np.ndarray, precision: np.ndarray, auprc: float, prevalence: float, title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.axhline(prevalence, color="grey", linestyle="--", linewidth=1, label=f"prevalence {prevalence:.3f}")
    axis.step(recall, precision, where="post", color=MODEL_COLOR, label=f"model (AUPRC {auprc:.3f})")
    axis.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision", title=title)
    axis.legend(loc="upper right", fontsize=8)
    return figure


def reliability_figure(predicted: np.ndarray, observed: np.ndarray, counts: np.ndarray, title: str) -> Figure:
    """Observed positive rate against mean predicted probability per bin (dot size = count)."""
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    axis.plot(predicted, observed, marker="o", color=MODEL_COLOR, label="model")
    counts = np.asarray(counts, dtype=float)
    axis.scatter(predicted, observed, s=10 + 200 * counts / max(counts.max(), 1), alpha=0.3, color=MODEL_COLOR)
    axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", ylabel="observed positive rate",
             title=title + f" (N={int(counts.sum()):,})")
    axis.legend(loc="upper left", fontsize=8)
    return figure


def model_vs_baselines_figure(summary: Mapping, title: str, metrics: Sequence[str] | None = None) -> Figure | None:
    """One panel per test metric of ``summary.json``: the model and each baseline with their 95% intervals (the
    model's bar dark, baselines grey). None when the summary has no intervals (no test evaluation)."""
    ci95 = summary.get("ci95") or {}
    names = [m for m in (metrics or ci95) if m in ci95 and summary["metrics"].get(m) is not None]
    if not names:
        return None
    baselines = summary.get("baselines") or {}
    columns = min(3, len(names))
    panels = int(np.ceil(len(names) / columns))
    predictors = ["model", *baselines]
    figure, axes = plt.subplots(panels, columns, squeeze=False,
                                figsize=(3.3 * columns + 0.6, 0.32 * len(predictors) * panels + 1.3 * panels + 0.6))
    for axis, metric in zip(axes.flat, names):
        rows = [(summary["metrics"][metric], ci95.get(metric))]
        rows += [(b.get(metric), (b.get("ci95") or {}).get(metric)) for b in baselines.values()]
        values = np.array([np.nan if v is None else v for v, _ in rows], dtype=float)
        low = [v - lo if lo is not None and np.isfinite(v) else 0 for v, (lo, _) in
               zip(values, [(i or (None, None)) for _, i in rows])]
        high = [hi - v if hi is not None and np.isfinite(v) else 0 for v, (_, hi) in
                zip(values, [(i or (None, None)) for _, i in rows])]
        colors = [MODEL_COLOR] + [BASELINE_COLOR] * len(baselines)
        axis.barh(range(len(rows)), np.nan_to_num(values), xerr=[low, high], color=colors, capsize=3,
                  error_kw={"linewidth": 1})
        axis.set_yticks(range(len(rows)), [_short(p, 28) for p in predictors], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(metric.removeprefix("test/"), fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
    for axis in list(axes.flat)[len(names):]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=10)
    return figure


def learning_curves_figure(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str,
                           xlabel: str = "epoch") -> Figure | None:
    """One panel per entry (losses and scores have different scales), each with its named curves ``(x, y)``;
    None without any point."""
    panels = {name: {label: xy for label, xy in curves.items() if len(xy[0])} for name, curves in panels.items()}
    panels = {name: curves for name, curves in panels.items() if curves}
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, squeeze=False, figsize=(3.8 * columns + 0.4, 2.9 * rows + 0.5))
    for axis, (name, curves) in zip(axes.flat, panels.items()):
        for (label, (x, y)), color in zip(curves.items(), (MODEL_COLOR, "#c05621", "#805ad5", "#2f855a")):
            axis.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, color=color, label=label)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel(xlabel, fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=7)
        if len(curves) > 1:
            axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=10)
    return figure


def grouped_rates_figure(groups: Sequence[str], rates: Mapping[str, Sequence[float]], title: str,
                         xlabel: str) -> Figure:
    """Rates (0–1) of several named series side by side for each group."""
    figure, axis = plt.subplots(figsize=(max(5.5, 1.1 * len(groups) + 2), 3.8))
    width = 0.8 / max(len(rates), 1)
    for index, ((name, values), color) in enumerate(zip(rates.items(), (MODEL_COLOR, "#c05621", "#805ad5"))):
        bars = axis.bar(np.arange(len(groups)) + (index - (len(rates) - 1) / 2) * width, values, width,
                        label=name, color=color)
        axis.bar_label(bars, [f"{v:.0%}" for v in values], fontsize=7, padding=1)
    axis.set_xticks(range(len(groups)), list(groups), fontsize=8)
    axis.set(ylim=(0, 1.1), ylabel="accuracy", xlabel=xlabel, title=title)
    axis.legend(fontsize=8)
    return figure


def error_histogram_figure(errors: Mapping[str, np.ndarray], title: str) -> Figure:
    """Absolute time errors (hours) on a log axis, one histogram per named group (history, stay)."""
    figure, axis = plt.subplots(figsize=(6, 3.6))
    positive = [np.asarray(e, dtype=float) for e in errors.values()]
    top = max([e.max() for e in positive if e.size] + [1.0])
    bins = np.concatenate([[0], np.logspace(-1, np.log10(top * 1.01) + 0.01, 30)])
    for (name, values), color in zip(errors.items(), ("#805ad5", "#c05621", MODEL_COLOR)):
        axis.hist(values, bins=bins, alpha=0.6, label=f"{name} (N={len(values):,})", color=color)
    axis.set_xscale("symlog", linthresh=0.1)
    axis.set(xlabel="|predicted − true| hours (log)", ylabel="predictions", title=title)
    axis.legend(fontsize=8)
    return figure


# -- sweeps, transfer and annotation evaluation --------------------------------------------------------------------
def grouped_bars_figure(panels: Mapping[str, tuple[Sequence[str], Mapping[str, tuple[np.ndarray, np.ndarray]]]],
                        ylabel: str) -> Figure:
    """One panel per title, side by side: for each group label, a bar per named series (height ± error, 0–1)."""
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for axis, (title, (labels, series)) in zip(axes[0], panels.items()):
        width = 0.8 / len(series)
        for index, (name, (heights, errors)) in enumerate(series.items()):
            axis.bar(np.arange(len(labels)) + index * width, heights, width, yerr=errors, label=name, capsize=3)
        axis.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
        axis.set(title=title, ylim=(0, 1), ylabel=ylabel)
        axis.legend(fontsize=7)
    return figure


def interval_bars_figure(rows: Sequence[tuple[str, float, float | None, float | None]], title: str, xlabel: str,
                         reference: float | None = None, reference_label: str = "") -> Figure:
    """Horizontal bars ``(name, value, lo, hi)`` with their intervals, best first as given; an optional vertical
    reference line (a baseline's value)."""
    figure, axis = plt.subplots(figsize=(8, max(2.2, 0.35 * len(rows) + 1.3)))
    values = np.array([v if v is not None else np.nan for _, v, _, _ in rows], dtype=float)
    low = [v - lo if lo is not None else 0 for v, (_, _, lo, _) in zip(values, rows)]
    high = [hi - v if hi is not None else 0 for v, (_, _, _, hi) in zip(values, rows)]
    axis.barh(range(len(rows)), np.nan_to_num(values), xerr=[low, high], color=MODEL_COLOR, capsize=3)
    axis.set_yticks(range(len(rows)), [_short(name, 50) for name, *_ in rows], fontsize=8)
    axis.invert_yaxis()
    if reference is not None:
        axis.axvline(reference, color="#c53030", linestyle="--", linewidth=1, label=reference_label)
        axis.legend(fontsize=8, loc="lower right")
    axis.set(xlabel=xlabel, title=title)
    return figure


def hours_scatter_figure(predicted: np.ndarray, reference: np.ndarray, title: str) -> Figure:
    """Predicted against reference hours of matched events (symmetric log on both axes, the diagonal = exact)."""
    predicted, reference = np.asarray(predicted, dtype=float), np.asarray(reference, dtype=float)
    figure, axis = plt.subplots(figsize=(5, 5))
    both = np.concatenate([predicted, reference, [0.0]])
    _time_axis(axis, both.min(), both.max(), "x")
    _time_axis(axis, both.min(), both.max(), "y")
    axis.plot(axis.get_xlim(), axis.get_xlim(), color="grey", linestyle="--", linewidth=1, label="exact")
    axis.scatter(reference, predicted, s=14, alpha=0.6, color=MODEL_COLOR, label="matched event")
    axis.set(xlabel="reference hours (symmetric log)", ylabel="predicted hours (symmetric log)",
             title=title + f" (N={len(predicted):,})")
    axis.tick_params(axis="x", labelrotation=45)
    axis.legend(fontsize=8, loc="upper left")
    return figure
