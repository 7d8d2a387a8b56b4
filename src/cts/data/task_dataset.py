"""Stage ``build``: a task builder's rows from the event table, with the persisted splits, written as train/val/test
Parquet and ``meta.json`` (the builders are in ``cts.tasks``; ``train.py`` runs the same stage on first use)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cts.data.event_table import read_event_table
from cts.data.splits import SPLITS, attach_splits, split_unit, splits_for
from cts.io import atomic_path, output_set, refuse_overwrite, write_json
from cts.progress import StepProgress
from cts.utils import announce


def write_task_dataset(frame: pd.DataFrame, out_dir: str | Path, task: str, params: dict, source: str,
                       split_by: str = "admission") -> dict:
    """train/val/test Parquet plus ``meta.json`` with the parameters, the split unit and the counts per split."""
    out_dir = Path(out_dir)
    table = pa.Table.from_pandas(frame.assign(split=frame["split"].astype(str)), preserve_index=False)
    counts = {}
    split_column = table.column("split")
    for split in SPLITS:
        part = table.filter(pc.equal(split_column, split))
        with atomic_path(out_dir / f"{split}.parquet") as temp:
            pq.write_table(part, temp, compression="zstd")
        counts[split] = part.num_rows
    meta = {"task": task, "source": str(source), "params": params, "split_by": split_by, "rows": counts}
    if "label_name" in frame.columns:
        meta["labels"] = {
            split: frame.loc[frame["split"] == split, "label_name"].value_counts().sort_index().to_dict()
            for split in SPLITS
        }
    write_json(out_dir / "meta.json", meta)
    return meta


def run_build(task: str, builder, input: str, output: str, splits=None, time_policy: str = "drop",
              split_ratios=(0.8, 0.1, 0.1), seed: int = 0) -> dict:
    """Stage ``build``: read the event table, attach persisted splits, build the task rows, write per split."""
    output = Path(output)
    refuse_overwrite([input, splits], [*(output / f"{s}.parquet" for s in SPLITS), output / "meta.json",
                                       output / "read_report.json"])
    with StepProgress(f"build {task}", ["read", "splits", "build", "write"]) as progress, \
            output_set(output, last=["meta.json"]) as staged:  # the splits and their reports appear together
        events = read_event_table(input, time_policy=time_policy, report_path=staged / "read_report.json")
        progress.advance()
        split_table = splits_for(events, input, splits, ratios=split_ratios, seed=seed)
        progress.advance()
        rows = builder(events)
        rows.insert(1, "split", attach_splits(rows, split_table, source=str(input)))
        progress.advance()
        meta = write_task_dataset(rows, staged, task, dict(getattr(builder, "keywords", {})), input,
                                  split_by=split_unit(split_table))
        progress.advance()
    announce(f"{task}: wrote {meta['rows']} rows to {output}")
    return meta
