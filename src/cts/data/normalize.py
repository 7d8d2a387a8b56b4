"""The authors' 1M normalization recipe, vectorized (the rules, in order: README.md, section "Normalization").

Rules run on the *distinct* event strings (the table's categories), not on its 22.6M rows: a regex pass over a few
million uniques, then a gather by category code. ASCII strings go through RE2 (pyarrow) with Python ``re``'s exact
ASCII semantics; the rare non-ASCII strings go through Python ``re`` itself, so results equal the reference recipe.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cts.data.event_table import canonical_order, compact_categories, read_event_table, write_event_table
from cts.io import output_set, refuse_overwrite, write_json
from cts.progress import StepProgress
from cts.utils import announce

GENDER_EVENTS = ("Female", "Male", "F", "M")
NUMBER = r"^\s*[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*$"
_UNITS = (r"years|year|yrs|yr|y|months|month|mos|mo|weeks|week|wks|wk|days|day|d|hours|hour|hrs|hr|h|"
          r"minutes|minute|mins|min|seconds|second|secs|sec")
TIME_EXPRESSION = (
    rf"\b\d+(?:\.\d+)?\s*(?:{_UNITS})\b"  # 3 days, 3d, 2.5 hrs
    r"|\b\d{1,2}:\d{2}\b"  # 10:30
    r"|\b\d{1,2}\s*(?:am|pm)\b"  # 4 pm
    r"|\b\d+\s*(?:y/o|yo|yr-old|yr old|yrold|year old|years old)\b"  # 65 yo
)
ONLY_YEARS = r"^\s*(?:\d+\s*(?:years|year|yrs|yr|y/o|yo|yr-old|year-old|years old)|years|year|yrs|yr)\s*$"
RULES = ("gender", "numeric", "time_expression", "duplicate")

# Python's ``\s`` on str also matches \v and the separators \x1c-\x1f; RE2's does not. Spell it out for RE2.
_PY_ASCII_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"


def _re2(pattern: str) -> str:
    return pattern.replace(r"\s", _PY_ASCII_SPACE)


def _matches(values: pa.Array, pattern: str, ignore_case: bool, is_ascii: np.ndarray) -> np.ndarray:
    """Does ``pattern`` match (search semantics, as ``re.search``) each string? Exact Python ``re`` semantics."""
    found = pc.match_substring_regex(values, _re2(pattern), ignore_case=ignore_case).to_numpy(zero_copy_only=False)
    non_ascii = np.flatnonzero(~is_ascii)
    if non_ascii.size:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        strings = values.take(pa.array(non_ascii)).to_pylist()
        found[non_ascii] = [compiled.search(s) is not None for s in strings]
    return found


def rule_masks(strings: pa.Array) -> dict[str, np.ndarray]:
    """For each distinct event string, which rule (first in recipe order) removes it."""
    strings = pc.cast(strings, pa.string())
    is_ascii = pc.string_is_ascii(strings).to_numpy(zero_copy_only=False)
    gender = pc.is_in(strings, value_set=pa.array(GENDER_EVENTS)).to_numpy(zero_copy_only=False)
    numeric = _matches(strings, NUMBER, False, is_ascii) & ~gender
    time_expression = (
        _matches(strings, TIME_EXPRESSION, True, is_ascii) | _matches(strings, ONLY_YEARS, True, is_ascii)
    ) & ~gender & ~numeric
    return {"gender": gender, "numeric": numeric, "time_expression": time_expression}


def normalize_events(events: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the recipe; returns the kept rows (admissions together, time-sorted) and the rows removed per rule."""
    if not isinstance(events["event"].dtype, pd.CategoricalDtype):
        events = events.assign(event=events["event"].astype("category"))
    categories = events["event"].cat.categories
    masks = rule_masks(pa.array(categories.astype(str), type=pa.string()))
    codes = events["event"].cat.codes.to_numpy()
    counts = {"input": len(events)}
    drop = np.zeros(len(events), dtype=bool)
    for rule, mask in masks.items():
        hit = mask[codes]
        counts[rule] = int(hit.sum())
        drop |= hit
    rows = np.flatnonzero(~drop)  # row positions only: the frame is gathered once, at the end
    order = canonical_order(events["hadm_id"].to_numpy()[rows], events["time"].to_numpy()[rows])
    if order is not None:
        rows = rows[order]
    hadm = events["hadm_id"].to_numpy()[rows]
    admission = np.concatenate([[0], np.cumsum(hadm[1:] != hadm[:-1])]).astype(np.int64)
    pair = admission * np.int64(len(categories)) + codes[rows].astype(np.int64)
    duplicate = pd.Series(pair).duplicated(keep="first").to_numpy()
    counts["duplicate"] = int(duplicate.sum())
    kept = events.iloc[rows[~duplicate]].reset_index(drop=True)
    kept["event"] = compact_categories(kept["event"])
    counts["output"] = len(kept)
    return kept, counts


def normalize_file(input: str | Path, output: str | Path, time_policy: str = "drop") -> dict[str, int]:
    """Stage ``normalize``: read, apply the recipe, write (CSV or Parquet by suffix), report counts per rule."""
    output = Path(output)
    read_report, counts_path = (output.with_name(output.name + ".read.json"),
                                output.with_name(output.name + ".counts.json"))
    refuse_overwrite([input], [output, read_report, counts_path])
    # the table and both reports appear together: a report never describes another run's table
    with StepProgress("normalize", ["read", "apply recipe", "write"]) as progress, \
            output_set(output.parent) as staged:
        events = read_event_table(input, time_policy=time_policy, report_path=staged / read_report.name)
        progress.advance()
        normalized, counts = normalize_events(events)
        progress.advance()
        write_event_table(normalized, staged / output.name)
        write_json(staged / counts_path.name, counts)
        progress.advance()
    removed = ", ".join(f"{rule} {counts[rule]:,}" for rule in RULES)
    announce(f"normalize: {counts['input']:,} → {counts['output']:,} rows (removed: {removed}) → {output}")
    return counts
