"""``preprocess.py stage=coverage``: how many reference events the kept chunks could let an LLM find.

An event counts as covered at k when, in one of the note's k best kept windows (chunk + context), at least
``token_share`` of the event's terms match a window term with a rapidfuzz ratio ≥ ``threshold`` (plurals, typos).
Reported against k and against the share of the note's chunks that k keeps. Only reference notes present in the
candidates are scored (a note with no kept chunk is absent too), and how many were absent is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from rapidfuzz import fuzz, process

from cts.data.event_table import read_event_table
from cts.data.notes import hadm_id_from_name
from cts.data.timelines import read_timeline
from cts.io import refuse_overwrite, write_json
from cts.retrieval.chunking import terms

log = logging.getLogger(__name__)


def load_reference(path: str | Path) -> dict[int, list[str]]:
    """Reference events by admission: an event table file, or a folder of ``<note>.bsv`` files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.bsv"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.bsv reference files")
        reference, prose = {}, 0
        for file in files:
            hadm_id = hadm_id_from_name(file.stem)
            if hadm_id is None:
                raise ValueError(f"{file}: no admission/note number in the file name")
            timeline = read_timeline(file)
            reference[hadm_id] = [event for event, _ in timeline.events]
            prose += len(timeline.rejects)
        log.info("%s: %d reference files; %d unreadable lines (the LLM's prose) skipped", path, len(files), prose)
        return reference
    table = read_event_table(path, time_policy="zero")
    return {int(h): group.astype(str).tolist() for h, group in table.groupby("hadm_id", observed=True)["event"]}


def found_at_rank(events: list[list[str]], windows: list[list[str]], threshold: float = 85,
                  token_share: float = 0.8) -> np.ndarray:
    """Per event (as terms), the best rank (1-based) of a window that holds it; ``inf`` if none does."""
    found = np.full(len(events), np.inf)
    vocabulary = sorted({t for window in windows for t in window})
    if not vocabulary or not events:
        return found
    column = {t: i for i, t in enumerate(vocabulary)}
    incidence = np.zeros((len(vocabulary), len(windows)), dtype=np.float32)
    for w, window in enumerate(windows):
        incidence[[column[t] for t in window], w] = 1
    event_terms = sorted({t for event in events for t in event})
    row = {t: i for i, t in enumerate(event_terms)}
    similar = process.cdist(event_terms, vocabulary, scorer=fuzz.ratio, score_cutoff=threshold) > 0
    in_window = (similar.astype(np.float32) @ incidence) > 0  # event term × window
    for e, event in enumerate(events):
        share = in_window[[row[t] for t in set(event)]].mean(axis=0)
        hits = np.flatnonzero(share >= token_share)
        if len(hits):
            found[e] = hits[0] + 1
    return found


@dataclass
class CoverageReport:
    candidates: str
    reference: str
    notes: int
    notes_missing: int
    events: int
    events_without_terms: int
    by_k: list[dict]

    def table(self) -> str:
        lines = [f"{'k':>6} {'coverage':>9} {'chunks kept':>12}"]
        lines += [f"{r['k']!s:>6} {r['coverage']:>9.3f} {r['share_kept']:>12.3f}" for r in self.by_k]
        return "\n".join(lines)


def coverage(candidates: pd.DataFrame, reference: dict[int, list[str]], ks: list[int], threshold: float = 85,
             token_share: float = 0.8) -> dict:
    """Coverage and mean share of chunks kept at each k (and at "all" kept rows)."""
    ranks_per_k: dict = {k: [] for k in [*ks, "all"]}
    kept_per_k: dict = {k: [] for k in [*ks, "all"]}
    notes = events_without_terms = 0
    for hadm_id, rows in candidates.groupby("hadm_id", sort=False):
        if int(hadm_id) not in reference:
            continue
        notes += 1
        rows = rows.sort_values("rank")
        event_terms = [terms(e) for e in reference[int(hadm_id)]]
        events_without_terms += sum(1 for t in event_terms if not t)
        event_terms = [t for t in event_terms if t]
        found = found_at_rank(event_terms, [terms(c) for c in rows["context"]], threshold, token_share)
        n_chunks, n_kept = int(rows["n_chunks"].iloc[0]), len(rows)
        for k, found_by_k in ranks_per_k.items():
            limit = n_kept if k == "all" else min(k, n_kept)
            found_by_k.append(found <= limit)
            kept_per_k[k].append(limit / n_chunks)
    by_k = [{"k": k, "coverage": float(np.concatenate(ranks_per_k[k]).mean()) if notes else 0.0,
             "share_kept": float(np.mean(kept_per_k[k])) if notes else 0.0} for k in ranks_per_k]
    return {"notes": notes, "notes_missing": len(set(reference) - set(candidates["hadm_id"].astype(int))),
            "events": int(sum(len(r) for r in ranks_per_k["all"])), "events_without_terms": events_without_terms,
            "by_k": by_k}


def run_coverage(candidates: str | Path, reference: str | Path, output: str | Path | None = None,
                 ks: list[int] = (1, 5, 10, 20, 30, 50, 100), threshold: float = 85,
                 token_share: float = 0.8) -> CoverageReport:
    candidates = Path(candidates)
    output = Path(output) if output else candidates.with_name(candidates.stem + ".coverage.json")
    refuse_overwrite([candidates, reference], [output])
    table = pq.read_table(candidates, columns=["hadm_id", "rank", "context", "n_chunks"]).to_pandas()
    result = coverage(table, load_reference(reference), list(ks), threshold, token_share)
    report = CoverageReport(str(candidates), str(reference), **result)
    write_json(output, report.__dict__)
    log.info("coverage of %d events in %d notes (%d reference notes absent):\n%s\nreport: %s",
             report.events, report.notes, report.notes_missing, report.table(), output)
    return report
