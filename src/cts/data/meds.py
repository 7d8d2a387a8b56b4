"""Export the event table in the MEDS layout, so 22MCTS-style data works with MEDS tools (meds-torch, …).

MEDS wants absolute times; 22MCTS has hours relative to admission. Each admission is anchored at a fixed,
documented epoch (``anchor``), so ``time - anchor`` gives back the relative hours exactly. Subjects are the
patients where ``subject_id`` is known, else the admissions. Splits map train/val/test → train/tuning/held_out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cts import __version__
from cts.data.event_table import read_event_table
from cts.data.splits import SPLITS, attach_splits, splits_for
from cts.tasks.common import event_strings
from cts.utils import announce

MEDS_SPLITS = {"train": "train", "val": "tuning", "test": "held_out"}
MEDS_VERSION = "0.3.3"
DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
                         ("numeric_value", pa.float32()), ("hadm_id", pa.int64())])


def export_meds(input: str | Path, output: str | Path, splits=None, anchor: str = "2000-01-01", seed: int = 0,
                code_prefix: str = "EVENT//", shard_size: int = 1_000_000, time_policy: str = "drop") -> dict:
    """Write ``data/<split>/<n>.parquet``, ``metadata/subject_splits.parquet`` and ``metadata/dataset.json``."""
    output = Path(output)
    events = read_event_table(input, time_policy=time_policy)
    split_of_row = attach_splits(events, splits_for(events, input, splits, seed=seed), source=str(input))
    subject = events["subject_id"].to_numpy() if "subject_id" in events.columns else events["hadm_id"].to_numpy()
    hours = events["time"].to_numpy()
    time = np.datetime64(anchor, "us") + (hours * 3_600_000_000).round().astype("timedelta64[us]")
    frame = pd.DataFrame({"subject_id": subject, "time": time, "code": event_strings(events).to_pandas(),
                          "hadm_id": events["hadm_id"].to_numpy(), "split": split_of_row.astype(str)})
    frame["code"] = code_prefix + frame["code"]
    frame["numeric_value"] = np.float32(np.nan)
    frame = frame.sort_values(["subject_id", "time"], kind="stable")
    counts = {}
    for split in SPLITS:
        part = frame.loc[frame["split"] == split, DATA_SCHEMA.names]
        folder = output / "data" / MEDS_SPLITS[split]
        folder.mkdir(parents=True, exist_ok=True)
        for number, start in enumerate(range(0, max(len(part), 1), shard_size)):
            table = pa.Table.from_pandas(part.iloc[start:start + shard_size], schema=DATA_SCHEMA, preserve_index=False)
            pq.write_table(table, folder / f"{number}.parquet")
        counts[MEDS_SPLITS[split]] = len(part)
    metadata = output / "metadata"
    metadata.mkdir(parents=True, exist_ok=True)
    subject_splits = frame.drop_duplicates("subject_id")[["subject_id", "split"]]
    subject_splits = subject_splits.assign(split=subject_splits["split"].map(MEDS_SPLITS))
    pq.write_table(pa.Table.from_pandas(subject_splits, preserve_index=False), metadata / "subject_splits.parquet")
    dataset = {"dataset_name": Path(input).name.split(".")[0], "dataset_version": Path(input).name,
               "etl_name": "cts", "etl_version": __version__, "meds_version": MEDS_VERSION,
               "time_anchor": anchor, "time_unit_note": "time = anchor + hours since admission"}
    (metadata / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    announce(f"export_meds: {len(frame):,} events of {subject_splits.shape[0]:,} subjects {counts} → {output}")
    return counts
