"""What every benchmark shares: where results go, the machine's description and load, and writing a result as strict
JSON (through ``cts.io.write_json``: NaN and infinities as null, and a killed run leaves no partial file).

A run writes under ``logs/bench/`` of the repository root (``cts.config.repository_root``: CTS_ROOT moves it, as
every output), outside git: ``bench/results/`` holds the published results that ``bench/tables.py`` turns into the
docs' tables; copy a new result there to publish it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from cts.config import repository_root
from cts.io import write_json

RESULTS = repository_root() / "logs" / "bench"


def write_result(path: str | Path, result: dict) -> Path:
    """A benchmark's result file (by default ``RESULTS/<name>.json``), strict JSON, written atomically."""
    return write_json(path, result)


def machine() -> dict:
    """Where and under what load a number was measured (the dev box is shared: the load changes results)."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": list(os.getloadavg())}


def annotate_and_score(task, notes, references, threshold: float = 80, scorer: str = "token_sort_ratio"):
    """Whole notes annotated by ``task`` (an ``EventsTask`` on its backend) in one batched call, each scored against
    its reference timeline as ``annotate.py stage=evaluate`` scores it. Returns the generations, the seconds from
    window planning to the last generation, the per-note score table and each note's matched (predicted, reference)
    hours."""
    import time

    from cts.annotation.evaluate import score_note, score_table
    from cts.annotation.tasks import Answered

    started = time.perf_counter()
    requests = [task.requests(note, None) for note in notes]
    generations = task.backend.generate([m for r in requests for m in r.messages])
    seconds = time.perf_counter() - started
    records, position = [], 0
    for note, r in zip(notes, requests):
        records.append(task.record([Answered(note, r, generations[position:position + len(r.messages)])]))
        position += len(r.messages)
    scored = [score_note(str(n.hadm_id), [(e["event"], e["time"]) for e in rec["events"]], ref, threshold, scorer)
              for n, rec, ref in zip(notes, records, references)]
    return generations, seconds, score_table([s for s, _ in scored]), [pairs for _, pairs in scored]
