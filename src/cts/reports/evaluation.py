"""``annotate.py stage=evaluate``: predicted timelines scored against reference timelines (``cts.annotation.evaluate``)
and, given an output folder, written there together: ``metrics.json`` (NaN as null) and ``per_note.csv`` (the
numbers), ``overall.csv``, ``report.md`` and ``report.html`` (the tables) and ``hours.png`` (predicted against
reference hours of the matched events)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cts.annotation.evaluate import METRICS, score
from cts.annotation.outputs import AnnotationError
from cts.io import output_set, write_csv, write_json, write_text
from cts.reports import html, markdown
from cts.reports.intervals import with_interval
from cts.utils import announce
from cts.viz.figures import hours_scatter_figure, save_figure

PER_NOTE_SHOWN = ("note", "predicted", "reference", "matched", "precision", "recall", "f1", "mae_hours",
                  "median_ae_hours", "sign_agreement", "order_concordance")


def _shown(overall: dict, key: str) -> str:
    return with_interval(overall[key], overall["ci95"].get(key))


def overall_rows(overall: dict) -> list[dict]:
    """Each overall metric with its 95% interval (over notes) and what it covers."""
    rows = []
    for name in ("precision", "recall", "f1", "macro_f1", *METRICS[3:]):
        lo, hi = overall["ci95"].get(name, [None, None])
        rows.append({"metric": name, "value": overall.get(name), "ci95_lo": lo, "ci95_hi": hi,
                     "over": f"{overall['matched']} matched events" if name in METRICS[3:] else
                     f"{overall['notes']} notes"})
    return rows


def write_report(output: Path, overall: dict, table: pd.DataFrame, matched_hours: np.ndarray) -> None:
    """overall.csv, report.md, report.html and hours.png (left out, and said so, without matched events)."""
    rows = overall_rows(overall)
    write_csv(pd.DataFrame(rows), output / "overall.csv")
    picture = None
    if len(matched_hours):
        picture = save_figure(hours_scatter_figure(matched_hours[:, 0], matched_hours[:, 1],
                                                   f"predicted vs reference hours, {overall['notes']} notes"),
                              output / "hours.png")
    coverage = (f"{overall['notes']} notes ({len(overall['missing_predictions'])} without predictions); time metrics "
                f"on the {overall['matched']} matched of {overall['reference']} reference events (recall "
                f"{_shown(overall, 'recall')}); intervals: 95% bootstrap over notes.")
    per_note = table[list(PER_NOTE_SHOWN)]
    write_text(output / "report.md", "\n".join([
        "# Annotation evaluation", "", coverage, "", "## Overall", "",
        markdown.frame_table(pd.DataFrame(rows).round(4)), "", "## Per note", "",
        markdown.frame_table(per_note.round(4)), "",
        "![predicted vs reference hours](hours.png)" if picture else "(no matched event: no hours figure)", ""]))
    html.write_page(output / "report.html", "Annotation evaluation", [
        html.section("Overall", html.table(rows)),
        *([html.section("Predicted vs reference hours", html.figure(picture, "matched events"))] if picture else []),
        html.section("Per note", html.table(per_note.round(4).to_dict("records")))], coverage)


def evaluate(predictions: str | Path, reference: str | Path | None, output: str | Path | None = None,
             threshold: float = 80.0, scorer: str = "token_sort_ratio", n_resamples: int = 1000,
             seed: int = 0) -> dict:
    """Score every reference note (``cts.annotation.evaluate.score``), write the files to ``output`` when given, and
    say the overall numbers."""
    if reference is None:
        raise AnnotationError("stage=evaluate needs reference=DIR: a folder of reference timelines "
                              "(*.bsv 'event | hours', *.csv 'event,time' or our *.json outputs), or an event table")
    overall, table, matched_hours = score(predictions, reference, threshold, scorer, n_resamples, seed)
    if output is not None:  # the files of one evaluation replace an earlier one's together (hours.png included)
        output = Path(output)
        with output_set(output, replace=[output / "hours.png"], last=["metrics.json"]) as staged:
            write_csv(table, staged / "per_note.csv")
            write_json(staged / "metrics.json", overall)
            write_report(staged, overall, table, matched_hours)
    announce(f"evaluate over {overall['notes']} notes ({len(overall['missing_predictions'])} without predictions), "
             f"95% intervals over notes: precision {_shown(overall, 'precision')}, recall {_shown(overall, 'recall')}"
             f", F1 {_shown(overall, 'f1')}; time metrics on the {overall['matched']} matched of "
             f"{overall['reference']} reference events (recall {overall['recall']:.3f}): MAE "
             f"{_shown(overall, 'mae_hours')} h, median AE {_shown(overall, 'median_ae_hours')} h, sign agreement "
             f"{_shown(overall, 'sign_agreement')}, order concordance {_shown(overall, 'order_concordance')}")
    return {"overall": overall, "per_note": table.to_dict("records")}
