"""Per-admission outputs → one table: the event table (Parquet + released-format CSV, data kept byte-compatible),
chunk contexts or summaries, plus every rejected model line in ``rejects.csv`` for people to inspect (its cells
spreadsheet-safe). The files of one consolidation are committed together (``cts.io.output_set``)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pandas as pd

from cts.annotation.outputs import AnnotationError, annotation_files, file_id, read_output
from cts.data.event_table import sort_events, write_event_table
from cts.data.ids import parse_id
from cts.data.time_bins import time_bin
from cts.io import output_set, refuse_overwrite, write_csv
from cts.utils import announce

log = logging.getLogger(__name__)
DEFAULT_NAMES = {"events": "events.parquet", "context": "contexts.parquet", "summary": "summaries.parquet"}


def _rows(kind: str, record: dict, path: Path) -> list[dict]:
    written_id, note_id = record["manifest"]["hadm_id"], record["manifest"].get("note_id")
    hadm_id = parse_id(written_id) if type(written_id) is int else None  # a JSON integer: never a float, text or bool
    if hadm_id is None or hadm_id != file_id(path):
        raise AnnotationError(f"{path}: field 'manifest.hadm_id' must be the admission id of the file name "
                              f"({file_id(path)}), got {record['manifest']['hadm_id']!r}")
    field = {"events": "events", "context": "contexts", "summary": "summary"}[kind]
    if field not in record:
        raise AnnotationError(f"{path}: field {field!r} is missing")
    if kind == "summary":
        return [{"hadm_id": hadm_id, "summary": record["summary"]}]
    rows = record[field]
    keys = {"event", "time"} if kind == "events" else {"chunk_id", "context"}
    for number, row in enumerate(rows):
        if not isinstance(row, dict) or not keys <= set(row):
            raise AnnotationError(f"{path}: {field}[{number}] lacks the expected keys")
    # a row's own note_id (admissions with several notes) wins over the manifest's (files of older runs)
    return [{"hadm_id": hadm_id, **({"note_id": note_id} if kind == "events" else {}), **row} for row in rows]


def _output_paths(kind: str, output: Path) -> list[Path]:
    """The Parquet table, and for events the released-format CSV beside it (``.csv`` of the same stem)."""
    if kind != "events":
        return [output]
    name = output.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return [output.with_name(output.name.split(".csv")[0] + ".parquet"), output]
    return [output, output.with_suffix(".csv")]


def consolidate(input: str | Path, output: str | Path | None = None) -> dict:
    """Build the table of a run directory; ``output`` defaults to ``<input>/<events|contexts|summaries>.parquet``."""
    files, not_admissions = annotation_files(input)
    if not files:
        raise AnnotationError(f"{input}: no <hadm_id>.json annotation files to consolidate"
                              + (f" ({len(not_admissions)} *.json named for no valid admission id)" if not_admissions
                                 else ""))
    if not_admissions:
        log.warning("%s: %d *.json file(s) named for no valid admission id (non-negative integer within int64) "
                    "skipped, e.g. %s", input, len(not_admissions), [p.name for p in not_admissions[:3]])
    rows, rejects, kinds, provenance = [], [], Counter(), Counter()
    for path in files:
        record = read_output(path)
        manifest = record["manifest"]
        kinds[manifest["kind"]] += 1
        provenance[(manifest.get("generation", {}).get("model"), manifest.get("prompt_hash"))] += 1
        if len(kinds) > 1:
            raise AnnotationError(f"{path}: kind {manifest['kind']!r} differs from the other files ({dict(kinds)})")
        rows += _rows(manifest["kind"], record, path)
        rejects += [{"hadm_id": manifest["hadm_id"], **r} for r in record.get("rejects", [])]
    kind = next(iter(kinds))
    output = Path(output) if output else Path(input) / DEFAULT_NAMES[kind]
    targets = _output_paths(kind, output)
    if kind == "events":
        targets.append(targets[0].with_name("rejects.csv"))
    refuse_overwrite(files, targets)
    written = _output_paths(kind, output)
    with output_set(output.parent) as staged:  # the table, its CSV and rejects.csv appear together or not at all
        if kind == "events":
            frame = pd.DataFrame(rows, columns=["hadm_id", "event", "time", "note_id"]).astype(
                {"hadm_id": "int64", "event": "category", "time": "float64", "note_id": "string"})
            frame = sort_events(frame)
            frame["time_bin"] = time_bin(frame["time"].to_numpy())
            for path in written:
                write_event_table(frame, staged / path.name)
            write_csv(pd.DataFrame(rejects, columns=["hadm_id", "window", "reason", "line"]),
                      staged / targets[-1].name)
        else:
            frame = pd.DataFrame(rows)
            frame.to_parquet(staged / output.name, index=False)
    if len(provenance) > 1:
        log.warning("%s mixes %d (model, prompt hash) combinations: %s", input, len(provenance), dict(provenance))
    report = {"kind": kind, "admissions": len(files), "rows": len(frame), "outputs": [str(p) for p in written],
              "model_prompt_combinations": len(provenance), "files_not_admissions": len(not_admissions)}
    message = f"consolidate: {len(files)} admissions → {len(frame)} rows ({kind}); wrote {', '.join(report['outputs'])}"
    if kind == "events":
        rejects_path = targets[-1]
        report.update(rejects=len(rejects), reject_reasons=dict(Counter(r["reason"] for r in rejects)),
                      rejects_file=str(rejects_path))
        message += f"; {len(rejects)} rejected model lines {report['reject_reasons']} kept in {rejects_path}"
    announce(message)
    return report
