"""Risk-task data: every admission's whole time-sorted sequence (``stage=build``), then, at training time, the
cohort: labels joined, each sequence cut at its prediction time and cleared of events that name the outcome.

Cutting at training time (not at build time) lets ``task.horizon_hours``, the outcome and the label file change
without a rebuild. The leakage rules: only events with ``time <= cut`` are kept, where ``cut`` is the label's own
``prediction_time`` if given, else ``horizon_hours`` (hours after admission), else the discharge (``null``); a stay
that ended before its cut is left out (its outcome is already known then); events matching a leak term (death,
discharge disposition, ...) are removed wherever they occur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.tasks.common import admission_bounds, event_strings

EMPTY_POLICIES = ("keep", "drop")
LEAK_TERMS = ("expired", "death", "died", "deceased", "passed away", "autopsy", "morgue", "hospice",
              "comfort measures only", "discharged", "discharge disposition", "disposition", "readmitted",
              "readmission", "transferred to")


def build_risk_sequences(events: pd.DataFrame) -> pd.DataFrame:
    """One row per admission: ``events`` and ``times`` (lists, time-sorted) and ``subject_id`` when known."""
    hadm = events["hadm_id"].to_numpy()
    bounds = admission_bounds(hadm)
    offsets = pa.array(bounds, type=pa.int64())
    frame = pd.DataFrame({"hadm_id": hadm[bounds[:-1]], "n_events": np.diff(bounds).astype(np.int32),
                          "events": pa.LargeListArray.from_arrays(offsets, event_strings(events)).to_pandas(),
                          "times": pa.LargeListArray.from_arrays(offsets, pa.array(events["time"].to_numpy()))
                          .to_pandas()})
    if "subject_id" in events.columns:
        frame.insert(1, "subject_id", events["subject_id"].to_numpy(np.int64)[bounds[:-1]])
    return frame


def leak_pattern(terms) -> re.Pattern | None:
    """One case-insensitive, whole-word pattern for the leak terms (None: no filter)."""
    terms = [str(t).strip() for t in terms or () if str(t).strip()]
    if not terms:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)


@dataclass
class CohortReport:
    """What joining and cutting left out, per split (never silent)."""

    admissions: int = 0
    without_label: int = 0
    ended_before_cut: int = 0
    empty_before_cut: int = 0
    empty_dropped: int = 0
    events_after_cut: int = 0
    events_leak_filtered: int = 0
    counts: dict = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.admissions} admissions: {self.without_label} without a label (dropped), "
                f"{self.ended_before_cut} ended before the prediction time (dropped), {self.empty_before_cut} "
                f"with no event before it ({self.empty_dropped} dropped); events cut after it "
                f"{self.events_after_cut}, naming the outcome {self.events_leak_filtered}")


def make_cohort(rows: pd.DataFrame, labels: pd.DataFrame, horizon_hours: float | None = 24.0, leak_terms=LEAK_TERMS,
                empty: str = "keep") -> tuple[pd.DataFrame, CohortReport]:
    """Labelled admissions with their sequences cut at the prediction time and leak-filtered.

    Returns ``hadm_id, label, cut_hours, events, times`` (+ ``subject_id``, ``admittime`` when known) and the
    report. ``empty``: ``keep`` an admission with no event before its cut as an empty sequence, or ``drop`` it.
    """
    if empty not in EMPTY_POLICIES:
        raise ValueError(f"task.empty must be one of {EMPTY_POLICIES}, got {empty!r}")
    report = CohortReport(admissions=len(rows))
    lookup = labels.set_index("hadm_id")
    known = rows["hadm_id"].isin(lookup.index).to_numpy()
    report.without_label = int((~known).sum())
    rows = rows[known].reset_index(drop=True)
    matched = lookup.loc[rows["hadm_id"].to_numpy()]
    cut = np.full(len(rows), np.inf if horizon_hours is None else float(horizon_hours))
    discharge = matched["discharge_hours"].to_numpy(np.float64) if "discharge_hours" in matched else None
    if horizon_hours is None and discharge is not None:
        cut = np.where(np.isnan(discharge), np.inf, discharge)
    if "prediction_time" in matched:
        given = matched["prediction_time"].to_numpy(np.float64)
        cut = np.where(np.isnan(given), cut, given)
    ended = np.zeros(len(rows), bool) if discharge is None else (discharge < cut) & np.isfinite(cut)
    report.ended_before_cut = int(ended.sum())
    keep = ~ended
    rows, matched, cut = rows[keep].reset_index(drop=True), matched[keep], cut[keep]
    events, times, after, leaked = _cut_and_filter(rows["events"], rows["times"], cut, leak_pattern(leak_terms))
    report.events_after_cut, report.events_leak_filtered = after, leaked
    frame = pd.DataFrame({"hadm_id": rows["hadm_id"].to_numpy(np.int64),
                          "label": matched["label"].to_numpy(np.int8), "cut_hours": cut,
                          "events": events, "times": times})
    subject = rows["subject_id"] if "subject_id" in rows else matched.get("subject_id")
    if subject is not None:
        frame["subject_id"] = np.asarray(subject, dtype=np.int64)
    if "admittime" in matched:
        frame["admittime"] = matched["admittime"].to_numpy()
    empty_rows = frame["events"].map(len).to_numpy() == 0
    report.empty_before_cut = int(empty_rows.sum())
    if empty == "drop":
        frame = frame[~empty_rows].reset_index(drop=True)
        report.empty_dropped = report.empty_before_cut
    return frame, report


def _cut_and_filter(events: pd.Series, times: pd.Series, cut: np.ndarray, pattern) -> tuple[list, list, int, int]:
    """Vectorized over the flattened events: keep ``time <= cut`` and not matching ``pattern``."""
    names = pa.chunked_array([pa.array(events.tolist(), type=pa.large_list(pa.string()))]).combine_chunks()
    hours = pa.chunked_array([pa.array(times.tolist(), type=pa.large_list(pa.float64()))]).combine_chunks()
    flat_names, flat_hours = names.flatten(), hours.flatten().to_numpy(zero_copy_only=False)
    owner = pc.list_parent_indices(names).to_numpy()
    in_time = flat_hours <= cut[owner]
    leaking = np.zeros(len(flat_hours), bool)
    if pattern is not None and len(flat_hours):
        leaking = pc.match_substring_regex(flat_names, pattern.pattern, ignore_case=True).to_numpy(
            zero_copy_only=False)
    keep = in_time & ~leaking
    counts = np.bincount(owner[keep], minlength=len(cut))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), type=pa.int64())
    kept_names = pa.LargeListArray.from_arrays(offsets, flat_names.filter(pa.array(keep)))
    kept_hours = pa.LargeListArray.from_arrays(offsets, pa.array(flat_hours[keep]))
    return (kept_names.to_pylist(), kept_hours.to_pylist(), int((~in_time).sum()), int((in_time & leaking).sum()))
