"""Notes joined to a reference event table of the same admissions: one row per note, with its admission's events.

On real data the released 22MCTS table joined to MIMIC-IV-Note ``discharge.csv.gz`` by ``hadm_id``; on the demo its
own notes and event table. Windows and the assignment of events to them depend on the model's tokenizer, so they are
made when the dataset is tokenized (:mod:`cts.tasks.extract.datamodule`), not here. Admissions with events but no
note and notes whose admission has no event are counted and left out (a note without a reference timeline was not
annotated, so it cannot teach "no events").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cts.data.notes import ReadStats, read_notes
from cts.utils import announce


def build_extract_notes(events: pd.DataFrame, notes: str | Path) -> pd.DataFrame:
    """``hadm_id, note_id, text, events (list), hours (list)``: every note of an admission that has reference
    events, the events in table order (time-sorted within the admission)."""
    notes = Path(notes)
    if not notes.exists():
        raise FileNotFoundError(f"task.build.notes={notes}: no such notes file or folder (MIMIC-IV-Note "
                                "discharge.csv.gz, or a folder of <hadm_id>.txt)")
    hadm = events["hadm_id"].to_numpy()
    by_admission = {int(h): (g["event"].astype(str).tolist(), g["time"].to_numpy(np.float64).tolist())
                    for h, g in events.groupby(hadm, sort=False)}
    stats, rows, without_events = ReadStats(), [], 0
    for note in read_notes(notes, stats):
        reference = by_admission.get(note.hadm_id)
        if reference is None:
            without_events += 1
            continue
        rows.append((note.hadm_id, note.note_id, note.text, *reference))
    frame = pd.DataFrame(rows, columns=["hadm_id", "note_id", "text", "events", "hours"])
    unmatched = len(set(by_admission) - set(frame["hadm_id"]))
    announce(f"extract: {len(frame):,} notes of {frame['hadm_id'].nunique():,} admissions joined to their events; "
             f"left out: {without_events:,} notes whose admission has no reference event, {unmatched:,} admissions "
             f"with events but no note; notes reader skipped {dict(stats.skipped)}")
    if frame.empty:
        raise ValueError(f"{notes}: no note shares an hadm_id with the event table (join by hadm_id)")
    return frame
