"""A dataset variant (docs/extending.md, "Adding a dataset variant"): a JSON-lines file, one stay per line —
``{"id": "stay-7", "patient": "p-3", "text": "...", "timeline": [["fever", -48], ["ceftriaxone", 0], ...]}`` —
imported into the corpus layout every stage reads (``notes.csv.gz``, ``events.parquet``,
``events_normalized.parquet``, ``splits.parquet``), as ``cts.data.timeline_corpus`` imports T2S2's folders.

``conf/stage/import_jsonl.yaml`` makes it a preprocess.py stage, ``conf/corpus/jsonl.yaml`` says where the
imported corpus lives (so ``corpus=jsonl`` points every stage at it), ``conf/data/jsonl.yaml`` lets train.py build
its task datasets on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cts.data.event_table import sort_events, write_event_table
from cts.data.normalize import normalize_events
from cts.data.notes import NOTE_COLUMNS, write_notes_csv
from cts.data.splits import SPLITS, write_splits
from cts.data.timeline_corpus import CorpusError, map_ids, split_by_count
from cts.io import output_set, refuse_overwrite, write_json
from cts.utils import announce

MARKER = "import_report.json"  # written last: a corpus without it was cut short (build_corpus_task reimports)


def import_jsonl_corpus(output: str | Path, source: str | Path | None, val: int = 1, test: int = 1,
                        seed: int = 1234) -> dict:
    """``source`` (a .jsonl file) → the corpus in ``output``; splits by patient, ``val``/``test`` stays each."""
    if source is None:
        raise CorpusError("stage=import_jsonl needs input=FILE.jsonl (or corpus=jsonl with corpus.source set)")
    source, output = Path(source), Path(output)
    stays = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not stays:
        raise CorpusError(f"input={source}: no stay (one JSON object per line)")
    ids = sorted(stay["id"] for stay in stays)
    hadm_ids, id_rule = map_ids(ids)
    by_id = {stay["id"]: stay for stay in stays}
    patients = sorted({by_id[key].get("patient", key) for key in ids})
    subject = {patient: number for number, patient in enumerate(patients, 1)}
    subject_ids = np.array([subject[by_id[key].get("patient", key)] for key in ids], dtype=np.int64)
    refuse_overwrite([source], [output / name for name in ("notes.csv.gz", "events.parquet", "splits.parquet")])
    with output_set(output, last=[MARKER]) as staged:
        write_notes_csv(pd.DataFrame({"note_id": ids, "subject_id": subject_ids, "hadm_id": hadm_ids,
                                      "note_type": "DS", "note_seq": 1, "charttime": "", "storetime": "",
                                      "text": [by_id[key]["text"] for key in ids]})[NOTE_COLUMNS],
                        staged / "notes.csv.gz")
        lengths = [len(by_id[key]["timeline"]) for key in ids]
        table = sort_events(pd.DataFrame({
            "hadm_id": np.repeat(hadm_ids, lengths),
            "event": [str(event) for key in ids for event, _ in by_id[key]["timeline"]],
            "time": np.array([float(hours) for key in ids for _, hours in by_id[key]["timeline"]]),
            "subject_id": np.repeat(subject_ids, lengths)}))
        write_event_table(table, staged / "events.parquet")
        normalized, counts = normalize_events(table)
        write_event_table(normalized, staged / "events_normalized.parquet")
        write_json(staged / "events_normalized.parquet.counts.json", counts)
        # by patient: a patient's stays share the split of the patient's number
        patient_split = dict(zip(np.unique(subject_ids), split_by_count(np.unique(subject_ids), val, test, seed)))
        splits = pd.DataFrame({"hadm_id": hadm_ids, "subject_id": subject_ids,
                               "split": pd.Categorical([patient_split[s] for s in subject_ids],
                                                       categories=list(SPLITS))})
        write_splits(splits, staged / "splits.parquet")
        summary = {"input": str(source), "stays": len(ids), "patients": len(patients), "events": len(table),
                   "events_normalized": len(normalized), "id_rule": id_rule,
                   "splits": splits["split"].value_counts().reindex(list(SPLITS)).astype(int).to_dict()}
        write_json(staged / MARKER, summary)
    announce(f"import_jsonl: {len(ids)} stays of {len(patients)} patients, {len(table)} events → {output}")
    return summary
