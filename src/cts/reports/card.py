"""A dataset card for an event table (``stage=stats``): the numbers (``cts.data.stats``) in ``stats.json``, a Markdown
page (``card.md``) and a self-contained HTML page (``card.html``) with PNG figures, each titled with the dataset's
name and N: events per admission, the time histogram, the share before/at/after admission, top events, the rows
normalization removed and the split sizes (when the normalization counts and ``splits.parquet`` are found), and a line
saying so when the data is the synthetic demo. The files of one run replace the previous run's together
(``cts.io.output_set``), and event text is escaped in both pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cts.data.event_table import read_event_table
from cts.data.normalize import RULES as NORMALIZATION_RULES
from cts.data.stats import bin_labels, describe_events, sources, split_sizes
from cts.data.time_bins import PAPER_BIN_EDGES
from cts.io import output_set, refuse_overwrite, write_json, write_text
from cts.reports import escape, html, markdown
from cts.utils import announce
from cts.viz import figures

FIGURES = ("events_per_admission", "time_histogram", "admission_share", "top_events", "normalization", "split_sizes")
SYNTHETIC_NOTE = ("This is the synthetic demo corpus (preprocess.py stage=demo): generated text, no patient data; "
                  "its numbers describe the generator, not MIMIC.")


def _name_line(stats: dict) -> str:
    return f"{stats['dataset']} (N={stats['rows']:,} events, {stats['admissions']:,} admissions)"


def card_figures(events, stats: dict, output: Path) -> dict[str, Path]:
    """The card's PNGs (name → path), each titled with the dataset's name and N."""
    name = _name_line(stats)
    per_admission = events.groupby("hadm_id", sort=False).size().to_numpy()
    low, high = per_admission.min(), per_admission.max()
    bins = np.arange(low, high + 2) - 0.5 if high - low <= 60 else 40  # one bar per count when few
    share = stats["share_of_events"]
    drawn = {
        "events_per_admission": figures.histogram_figure(per_admission, f"events per admission\n{name}",
                                                         "events in the admission", bins),
        "time_histogram": figures.time_histogram_figure(events["time"].to_numpy(), PAPER_BIN_EDGES, bin_labels(),
                                                        f"event times\n{name}"),
        "admission_share": figures.bar_figure({"before": share["before_admission"], "at": share["at_admission"],
                                               "after": share["after_admission"]},
                                              f"events before / at / after admission\n{name}", "share of events",
                                              percent=True),
        "top_events": figures.bar_figure(stats["top_events"], f"top {len(stats['top_events'])} events\n{name}",
                                         "occurrences", horizontal=True),
    }
    if stats.get("normalization"):
        counts = stats["normalization"]
        drawn["normalization"] = figures.bar_figure(
            {rule: counts[rule] for rule in NORMALIZATION_RULES if rule in counts},
            f"rows removed by normalization\n{stats['dataset']} (N={counts.get('input', 0):,} rows in, "
            f"{counts.get('output', 0):,} out)", "rows removed")
    if stats.get("splits"):
        drawn["split_sizes"] = figures.bar_figure({k: v["admissions"] for k, v in stats["splits"].items()},
                                                  f"admissions per split\n{name}", "admissions")
    return {file: figures.save_figure(figure, output / f"{file}.png") for file, figure in drawn.items()}


def _overview(stats: dict) -> list[str]:
    epa, share, hours = stats["events_per_admission"], stats["share_of_events"], stats["time_hours"]
    return [f"rows (events): {stats['rows']:,}", f"admissions: {stats['admissions']:,}",
            *([f"subjects: {stats['subjects']:,}"] if "subjects" in stats else []),
            f"distinct event strings: {stats['distinct_events']:,}",
            f"events per admission: mean {epa['mean']:.1f}, median {epa['median']:g}, p10–p90 {epa['p10']:g}–"
            f"{epa['p90']:g}, range {epa['min']}–{epa['max']}",
            f"events before admission {share['before_admission']:.1%}, at admission {share['at_admission']:.1%}, "
            f"after admission {share['after_admission']:.1%}",
            f"time (hours): min {hours['min']:g}, median {hours['median']:g}, max {hours['max']:g}"]


def _tables(stats: dict) -> dict[str, list[dict]]:
    """The card's tables (title → rows), shared by card.md and card.html."""
    tables = {"Time bins": [{"bin (hours)": k, "events": v} for k, v in stats["time_bins"].items()],
              "Top events": [{"event": k, "count": v} for k, v in stats["top_events"].items()]}
    if stats.get("normalization"):
        counts = stats["normalization"]
        tables["Noise removed by normalization"] = [
            {"rule": rule, "rows removed": counts[rule]} for rule in NORMALIZATION_RULES if rule in counts]
    if stats.get("splits"):
        tables["Splits"] = [{"split": k, **v} for k, v in stats["splits"].items()]
    return tables


def write_card_markdown(path: Path, stats: dict, figure_files: dict[str, Path]) -> Path:
    lines = [f"# Dataset card: {escape.markdown(_name_line(stats))}", ""]
    if stats["synthetic_demo"]:
        lines += [f"> **{SYNTHETIC_NOTE}**", ""]
    lines += ["## Overview", "", *(f"- {line}" for line in _overview(stats)), ""]
    if stats.get("normalization"):
        counts = stats["normalization"]
        lines += [f"Normalization (the authors' 1M recipe): {counts.get('input', 0):,} rows in, "
                  f"{counts.get('output', 0):,} out.", ""]
    for title, rows in _tables(stats).items():
        lines += [f"## {title}", "", *markdown.table(rows), ""]
    lines += ["## Figures", "", *(f"![{name.replace('_', ' ')}]({file.name})" for name, file in figure_files.items()),
              "", "The same card with the figures inlined: `card.html`; the numbers: `stats.json`.", ""]
    return write_text(path, "\n".join(lines))


def write_card_html(path: Path, stats: dict, figure_files: dict[str, Path]) -> Path:
    """The same card as one self-contained page (figures inlined as data)."""
    parts = [html.paragraph(SYNTHETIC_NOTE, "warn")] if stats["synthetic_demo"] else []
    parts.append(html.section("Overview", "<ul>" + "".join(f"<li>{escape.html(line)}</li>"
                                                            for line in _overview(stats)) + "</ul>"))
    parts.append(html.section("Figures", html.figures(*(html.figure(file, name.replace("_", " "))
                                                        for name, file in figure_files.items()))))
    parts += [html.section(title, html.table(rows)) for title, rows in _tables(stats).items()]
    return html.write_page(path, f"Dataset card: {_name_line(stats)}", parts,
                           f"Source: {stats['source']}. The numbers are also in stats.json, the figures are PNG files "
                           "beside this page.")


def write_stats(input: str | Path, output: str | Path, top: int = 20, time_policy: str = "drop",
                name: str | None = None, normalization: str | Path | None = None,
                splits: str | Path | None = None) -> dict:
    """Stage ``stats``: ``stats.json``, ``card.md``, ``card.html`` and the card's PNGs under ``output``.

    ``normalization`` (a ``stage=normalize`` ``.counts.json``) and ``splits`` (``splits.parquet``) default to the
    files beside ``input``; their sections and figures are left out when there are none."""
    input, output = Path(input), Path(output)
    removed, splits_path, synthetic = sources(input, normalization, splits)
    refuse_overwrite([input, splits_path], [output / n for n in ("stats.json", "card.md", "card.html",
                                                                 *(f"{f}.png" for f in FIGURES))])
    events = read_event_table(input, time_policy=time_policy)
    stats = {"dataset": name or ("synthetic demo" if synthetic else input.name), "source": input.name,
             "synthetic_demo": synthetic, **describe_events(events, top)}
    if removed:
        stats["normalization"] = removed
    if splits_path is not None:
        stats["splits"] = split_sizes(events, splits_path)
    figures_before = [output / f"{f}.png" for f in FIGURES]  # one this run does not draw must not stay beside it
    with output_set(output, replace=figures_before, last=["stats.json"]) as staged:
        figure_files = card_figures(events, stats, staged)
        write_card_markdown(staged / "card.md", stats, figure_files)
        write_card_html(staged / "card.html", stats, figure_files)
        write_json(staged / "stats.json", stats)
    announce(f"stats: {stats['rows']:,} events, {stats['admissions']:,} admissions → {output}/card.md, card.html")
    return stats
