"""``preprocess.py stage=coverage``: how many reference events reach the LLM, against how much of the note is sent.

A window (chunk + context) *holds* an event when at least ``token_share`` of the event's terms match a window term
with a rapidfuzz ratio ≥ ``threshold`` (plurals, typos). The ceiling is the events some window of the note holds
(the full text); an event reaches the LLM under a selection rule when a window holding it lies inside what is sent
(kept windows one by one, or merged into passages). :func:`coverage_curve` scores rules (:class:`Policy`) note by
note; :func:`summarize` gives relative coverage (reached / ceiling) and the share of the note's tokens sent, with
bootstrap intervals over notes. :func:`coverage` (coverage at k of a candidates table) serves the benchmark's
comparison of retrieval modes.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from cts.bootstrap import ClusterBootstrap, interval, mean, ratio
from cts.data.event_table import read_event_table
from cts.data.notes import ReadStats, hadm_id_from_name, read_notes
from cts.data.timelines import read_timeline
from cts.io import refuse_overwrite, write_json
from cts.retrieval.chunking import ChunkedNote, Chunker, terms
from cts.retrieval.passages import Selection, merge, windows
from cts.retrieval.retriever import Ranked, Retriever

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


def holding(events: list[list[str]], windows: list[list[str]], threshold: float = 85,
            token_share: float = 0.8) -> np.ndarray:
    """Event × window: does the window hold at least ``token_share`` of the event's terms (fuzzy-matched)?"""
    result = np.zeros((len(events), len(windows)), dtype=bool)
    vocabulary = sorted({t for window in windows for t in window})
    if not vocabulary or not events:
        return result
    column = {t: i for i, t in enumerate(vocabulary)}
    incidence = np.zeros((len(vocabulary), len(windows)), dtype=np.float32)
    for w, window in enumerate(windows):
        incidence[[column[t] for t in window], w] = 1
    event_terms = sorted({t for event in events for t in event})
    row = {t: i for i, t in enumerate(event_terms)}
    similar = process.cdist(event_terms, vocabulary, scorer=fuzz.ratio, score_cutoff=threshold) > 0
    in_window = (similar.astype(np.float32) @ incidence) > 0  # event term × window
    for e, event in enumerate(events):
        result[e] = in_window[[row[t] for t in set(event)]].mean(axis=0) >= token_share
    return result


def found_at_rank(events: list[list[str]], windows: list[list[str]], threshold: float = 85,
                  token_share: float = 0.8) -> np.ndarray:
    """Per event (as terms), the best rank (1-based) of a window that holds it; ``inf`` if none does."""
    holds = holding(events, windows, threshold, token_share)
    any_window = holds.any(axis=1)
    return np.where(any_window, holds.argmax(axis=1) + 1, np.inf) if holds.size else np.full(len(events), np.inf)


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


@dataclass(frozen=True)
class Policy:
    """One point of the curve: a selection rule, and whether its windows are sent merged (passages) or one by one."""

    name: str
    selection: Selection | None  # None: the whole note
    merged: bool = True


def policies(top_ks=(10, 20, 30, 50, 100, None), budgets=(0.2, 0.3, 0.4, 0.5, 0.6),
             whole_note_tokens=(), default: Selection | None = None) -> list[Policy]:
    """The curve: top_k windows one by one and merged, budgets (merged), budgets with short notes whole, the
    configured rule, and the whole note."""
    out = []
    for k in top_ks:
        label = "all" if k is None else k
        out += [Policy(f"top_k={label} windows", Selection(top_k=k), merged=False),
                Policy(f"top_k={label} passages", Selection(top_k=k))]
    out += [Policy(f"budget={b} passages", Selection(top_k=None, budget=b)) for b in budgets]
    out += [Policy(f"budget={b}, whole note <= {t} tokens", Selection(top_k=None, budget=b, whole_note_tokens=t))
            for t in whole_note_tokens for b in budgets]
    if default is not None:
        out.append(Policy(f"configured ({_describe(default)})", default))
    return [*out, Policy("whole note", None)]


def _describe(selection: Selection) -> str:
    return ", ".join(f"{k}={v}" for k, v in selection.__dict__.items() if v not in (None, 0))


def _sent(chunks: ChunkedNote, kept: np.ndarray, merged: bool) -> tuple[np.ndarray, int]:
    """Which chunks' windows reach the LLM whole, and how many note tokens are sent."""
    first, last = windows(chunks)
    seen = np.zeros(len(chunks), dtype=bool)
    if not merged:
        seen[kept] = True
        return seen, int((last[kept] - first[kept]).sum())
    starts, ends = merge(first[kept], last[kept])
    if len(starts):
        index = np.searchsorted(starts, first, side="right") - 1
        seen = (index >= 0) & (last <= ends[np.maximum(index, 0)])
    return seen, int((ends - starts).sum())


def note_curve(ranked: Ranked, note_events: list[list[str]], all_policies: list[Policy], threshold: float = 85,
               token_share: float = 0.8) -> list[dict]:
    """Per policy, for one note: reference events covered, the full-text ceiling, and note tokens sent."""
    chunks = ranked.lexical.chunks
    first, last = windows(chunks)
    text = chunks.text
    window_terms = [terms(text[chunks.tok_start[a]:chunks.tok_end[b - 1]]) for a, b in zip(first, last)]
    holds = holding(note_events, window_terms, threshold, token_share)
    ceiling = holds.any(axis=1)
    rows = []
    for policy in all_policies:
        if policy.selection is None:
            covered, tokens, kept = ceiling, chunks.n_tokens, len(chunks)
        else:
            chosen = policy.selection.keep(chunks, ranked.score, ranked.eligible)
            seen, tokens = _sent(chunks, chosen, policy.merged)
            covered, kept = holds[:, seen].any(axis=1), len(chosen)
        rows.append({"hadm_id": ranked.lexical.note.hadm_id, "note_id": ranked.lexical.note.note_id,
                     "policy": policy.name, "events": len(note_events), "ceiling": int(ceiling.sum()),
                     "covered": int(covered.sum()), "tokens_sent": tokens, "note_tokens": chunks.n_tokens,
                     "kept": kept, "chunks": len(chunks)})
    return rows


def coverage_curve(notes, reference: dict[int, list[str]], retriever: Retriever, chunker: Chunker,
                   all_policies: list[Policy], threshold: float = 85, token_share: float = 0.8,
                   batch_size: int = 64) -> tuple[pd.DataFrame, dict]:
    """Rows (note × policy) for the reference notes among ``notes``, and counts (notes absent, events without
    terms). Notes are ranked in batches so the dense model embeds a batch at once."""
    rows, counts, batch, seen = [], {"events_without_terms": 0}, [], set()

    def flush():
        for ranked in retriever.rank(batch):
            events = [terms(e) for e in reference[ranked.lexical.note.hadm_id]]
            counts["events_without_terms"] += sum(not e for e in events)
            rows.extend(note_curve(ranked, [e for e in events if e], all_policies, threshold, token_share))
        batch.clear()

    for note in notes:
        if note.hadm_id not in reference:
            continue
        seen.add(note.hadm_id)
        batch.append(retriever.lexical(note, chunker(note.text)))
        if len(batch) >= batch_size:
            flush()
    flush()
    counts["notes_missing"] = len(set(reference) - seen)
    return pd.DataFrame(rows), counts


def summarize(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Per policy (in curve order): relative coverage (covered / ceiling), coverage (covered / events) and the
    mean share of the note's tokens sent, each with a 95% interval from a bootstrap over notes."""
    out = []
    for name, rows in frame.groupby("policy", sort=False):
        boot = ClusterBootstrap(rows["note_id"].to_numpy(), n_resamples, seed)
        covered, ceiling, events = (boot.sums(rows[c].to_numpy(float)) for c in ("covered", "ceiling", "events"))
        share = mean(boot, (rows["tokens_sent"] / rows["note_tokens"].clip(lower=1)).to_numpy())
        estimates = {"relative_coverage": interval(ratio(covered, ceiling)),
                     "coverage": interval(ratio(covered, events)), "token_share": interval(share)}
        out.append({"policy": name, "notes": len(rows), "events": int(rows["events"].sum()),
                    "ceiling": int(rows["ceiling"].sum()), "covered": int(rows["covered"].sum()),
                    **{k: round(e.value, 4) for k, e in estimates.items()},
                    "ci95": {k: e.ci95() for k, e in estimates.items()}})
    return out


def table(summary: list[dict]) -> str:
    """The curve as text: relative coverage and share of note tokens sent, with their intervals."""
    lines = [f"{'policy':<44} {'rel. coverage':>21} {'tokens sent':>21} {'events':>7}"]
    for r in summary:
        lo, hi = r["ci95"]["relative_coverage"]
        slo, shi = r["ci95"]["token_share"]
        lines.append(f"{r['policy']:<44} {r['relative_coverage']:>6.3f} [{lo:.3f}, {hi:.3f}] "
                     f"{r['token_share']:>6.3f} [{slo:.3f}, {shi:.3f}] {r['events']:>7}")
    return "\n".join(lines)


def run_coverage(input: str | Path, reference: str | Path, retrieval: Retriever, chunk: Chunker,
                 output: str | Path | None = None, top_ks=(10, 20, 30, 50, 100, None),
                 budgets=(0.2, 0.3, 0.4, 0.5, 0.6), whole_note_tokens=(), threshold: float = 85,
                 token_share: float = 0.8, limit: int | None = None) -> dict:
    """``stage=coverage``: rank every note of ``input`` that has reference events, score the curve, print it and
    write ``output`` (JSON: the curve with intervals, the counts, the settings)."""
    input = Path(input)
    output = Path(output) if output else input.with_name(f"{input.name.split('.')[0]}.coverage.json")
    refuse_overwrite([input, reference], [output])
    reference_events = load_reference(reference)
    stats = ReadStats()
    notes = itertools.islice(read_notes(input, stats), limit)
    all_policies = policies(top_ks, budgets, whole_note_tokens, retrieval.selection)
    frame, counts = coverage_curve(notes, reference_events, retrieval, chunk, all_policies, threshold, token_share)
    if frame.empty:
        raise ValueError(f"{input}: no note has reference events in {reference} (admission ids must match)")
    summary = summarize(frame)
    report = {"input": str(input), "reference": str(reference), "notes": int(frame["note_id"].nunique()),
              **counts, "skipped": stats.as_dict(), "retrieval": retrieval.settings(), "chunk": chunk.settings(),
              "curve": summary}
    write_json(output, report)
    log.info("coverage of %d notes (%d reference notes absent, %d term-less events):\n%s\nreport: %s",
             report["notes"], counts["notes_missing"], counts["events_without_terms"], table(summary), output)
    return report
