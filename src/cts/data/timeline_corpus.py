"""A folder of reports beside their ``event | hours`` timelines → a corpus laid out like the demo's, which every
stage reads (``notes.csv.gz``, ``events.parquet``, ``events_normalized.parquet``, ``splits.parquet``).

The T2S2 case reports (``body/PMC*_body.txt`` beside ``l33_70b_annotations/PMC*_body.bsv``) are the example, but any
folder works: reports and timelines are the files matching two globs (``**/*.txt``, ``**/*.bsv`` by default), paired by
their name without a ``_body`` tail. Reports are keyed by text ids (``PMC10010815``); the pipeline keys admissions
by int64 ``hadm_id``, so each text id is mapped once here — to its own number when every id holds a distinct one
(``PMC10010815`` → 10010815, readable both ways), else to its rank in name order — and the map is written to
``ids.parquet`` (``hadm_id, source_id, report, timeline``) and kept as ``note_id`` in the notes and events.

Nothing is dropped silently: reports without a timeline and timelines without a report are counted and named, as
are empty reports, unreadable timeline lines (with file and line) and times that are not finite hours; the counts
go to ``import_report.json`` and the terminal.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from cts.data import timelines
from cts.data.event_table import sort_events, write_event_table
from cts.data.normalize import normalize_events
from cts.data.notes import NOTE_COLUMNS, hadm_id_from_name, write_notes_csv
from cts.data.splits import SPLITS, write_splits
from cts.errors import UserError
from cts.hashing import hash_unit
from cts.io import atomic_path, output_set, refuse_overwrite, write_json
from cts.utils import announce

MARKER = "import_report.json"  # written last: its presence says the corpus is complete
_TAIL = re.compile(r"_body$", re.IGNORECASE)
_EXAMPLES = 20


class CorpusError(UserError):
    """A folder that cannot become a corpus (no reports, colliding ids, output inside the input)."""


def source_id(path: Path) -> str:
    """``PMC10010815_body.txt`` → ``PMC10010815``: the name that pairs a report with its timeline."""
    return _TAIL.sub("", path.name[: -len(path.suffix)])


def _files(root: Path, pattern: str) -> dict[str, Path]:
    """Files matching the glob ``pattern`` under ``root`` (hidden ones left out), by source id; an id found twice
    is an error naming both files."""
    found: dict[str, Path] = {}
    for path in sorted(root.glob(pattern)):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            key = source_id(path)
            if key in found:
                raise CorpusError(f"{root}: two files match {pattern!r} for report {key!r}: {found[key]} and {path}")
            found[key] = path
    return found


def map_ids(source_ids: list[str]) -> tuple[np.ndarray, str]:
    """int64 admission ids for text ids (sorted): each id's own number when all are distinct, else ranks 1..n."""
    numbers = [hadm_id_from_name(s) for s in source_ids]  # the rule notes and timeline files are keyed by
    if all(n is not None for n in numbers):
        values = np.array(numbers, dtype=np.int64)
        if len(np.unique(values)) == len(values):
            return values, "number in the id"
    return np.arange(1, len(source_ids) + 1, dtype=np.int64), "rank in name order (ids hold no distinct numbers)"


def split_by_count(ids: np.ndarray, val: int, test: int, seed: int) -> np.ndarray:
    """``test`` ids to test and ``val`` to val, the rest to train, drawn by a seeded hash of each id, so the same
    ids get the same split whatever their order or whatever else is in the folder's listing."""
    if val < 0 or test < 0 or val + test >= len(ids):
        raise CorpusError(f"split counts stage.val={val}, stage.test={test} must be >= 0 and leave train reports "
                          f"({len(ids)} reports); lower them")
    order = np.argsort(hash_unit(ids, seed), kind="stable")
    split = np.full(len(ids), SPLITS[0], dtype=object)
    split[order[:test]] = SPLITS[2]
    split[order[test:test + val]] = SPLITS[1]
    return split


class _Counts:
    """Counts by reason with a few named examples each (file names and line numbers, never text)."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, where: str, n: int = 1) -> None:
        self.counts[reason] += n
        examples = self.examples.setdefault(reason, [])
        if len(examples) < _EXAMPLES:
            examples.append(where)


def read_report_timeline(path: Path, counts: _Counts) -> list[tuple[str, float]]:
    """The events of one timeline file; every line that is not an event is counted with its file and line."""
    events = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.replace("\r", "\n").split("\n"), 1):
        parsed = timelines.parse_line(line)
        if isinstance(parsed, timelines.Reject):
            counts.add(f"timeline line dropped: {parsed.reason}", f"{path.name}:{number}")
        elif parsed is not None:
            events.append(parsed)
    return events


def import_timeline_corpus(input: str | Path | None, output: str | Path, reports: str = "**/*.txt",
                           timelines: str = "**/*.bsv", val: int = 100, test: int = 100, seed: int = 1234) -> dict:
    """Write ``output/{notes.csv.gz, events.parquet, events_normalized.parquet(.counts.json), splits.parquet,
    ids.parquet, import_report.json}`` from a folder of reports and timelines (``reports``/``timelines``: globs
    under ``input``)."""
    if input is None:
        raise CorpusError("stage=import needs input=FOLDER (reports beside their timelines), or corpus=t2s2")
    source, output = Path(input), Path(output)
    if not source.is_dir():
        raise CorpusError(f"input={source}: not a folder (a folder of <id>.txt reports beside <id>.bsv timelines)")
    if output.resolve().is_relative_to(source.resolve()):
        raise CorpusError(f"output={output} is inside input={source}: the corpus is never written into its source")
    report_files, timeline_files = _files(source, reports), _files(source, timelines)
    counts = _Counts()
    for key in sorted(set(report_files) - set(timeline_files)):
        counts.add("report without a timeline (left out)", report_files[key].name)
    for key in sorted(set(timeline_files) - set(report_files)):
        counts.add("timeline without a report (left out)", timeline_files[key].name)
    paired = sorted(set(report_files) & set(timeline_files))
    notes, events, kept = [], [], []
    for key in paired:
        text = report_files[key].read_bytes().decode("utf-8", errors="replace")
        if not text.strip():
            counts.add("empty report (left out)", report_files[key].name)
            continue
        found = read_report_timeline(timeline_files[key], counts)
        if not found:
            counts.add("timeline without a readable event (report left out)", timeline_files[key].name)
            continue
        kept.append(key)
        notes.append(text)
        events.append(found)
    if not kept:
        raise CorpusError(f"input={source}: no report with a readable timeline ({len(report_files)} files match "
                          f"{reports!r}, {len(timeline_files)} match {timelines!r})")
    hadm_ids, id_rule = map_ids(kept)
    written = [output / name for name in ("notes.csv.gz", "events.parquet", "events_normalized.parquet",
                                          "splits.parquet", "ids.parquet", MARKER)]
    refuse_overwrite([*report_files.values(), *timeline_files.values()], written)
    # the corpus's files replace the previous import's together, its marker last (cts.io.output_set)
    with output_set(output, last=[MARKER]) as staged:
        ids = pd.DataFrame({"hadm_id": hadm_ids, "source_id": kept,
                            "report": [str(report_files[k].relative_to(source)) for k in kept],
                            "timeline": [str(timeline_files[k].relative_to(source)) for k in kept]})
        # A case report describes one patient: its subject is itself, so the splits are by patient.
        write_notes_csv(pd.DataFrame({"note_id": kept, "subject_id": hadm_ids,
                                      "hadm_id": hadm_ids, "note_type": "report", "note_seq": 1, "charttime": "",
                                      "storetime": "", "text": notes})[NOTE_COLUMNS], staged / "notes.csv.gz")
        lengths = np.array([len(found) for found in events])
        table = pd.DataFrame({"hadm_id": np.repeat(hadm_ids, lengths),
                              "event": [event for found in events for event, _ in found],
                              "time": np.array([hours for found in events for _, hours in found], dtype=np.float64),
                              "note_id": np.repeat(np.array(kept, dtype=object), lengths)})
        table = sort_events(table)
        table["event"] = table["event"].astype("category")
        write_event_table(table, staged / "events.parquet")
        normalized, normalization = normalize_events(table)
        write_event_table(normalized, staged / "events_normalized.parquet")
        write_json(staged / "events_normalized.parquet.counts.json", normalization)
        split = pd.Categorical(split_by_count(hadm_ids, val, test, seed), categories=list(SPLITS))
        splits = pd.DataFrame({"hadm_id": hadm_ids, "subject_id": hadm_ids, "split": split})
        write_splits(splits, staged / "splits.parquet")
        write_ids(ids, staged / "ids.parquet")
        per_split = splits["split"].value_counts().reindex(list(SPLITS)).astype(int).to_dict()
        summary = {"input": str(source), "reports": len(report_files), "timelines": len(timeline_files),
                   "imported": len(kept), "events": int(len(table)), "events_normalized": int(len(normalized)),
                   "normalization": normalization, "splits": per_split, "split_seed": seed, "id_rule": id_rule,
                   "skipped": dict(counts.counts), "examples": counts.examples}
        write_json(staged / MARKER, summary)
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(counts.counts.items())) or "nothing"
    announce(f"import: {len(kept):,} of {len(report_files):,} reports with {len(table):,} events "
             f"({len(normalized):,} after normalization) → {output}; splits {per_split} by report (seed {seed}); "
             f"ids: {id_rule} (ids.parquet); skipped: {skipped}")
    return summary


def write_ids(ids: pd.DataFrame, path: Path) -> Path:
    """The id map (hadm_id ↔ the report's own id and files)."""
    with atomic_path(path) as temp:
        ids.to_parquet(temp, index=False)
    return path
