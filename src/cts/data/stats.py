"""The numbers of a dataset card (``stage=stats``, drawn by ``cts.reports.card``): sizes, events per admission, event
times and their bins, the share before/at/after admission, top events, and the rows normalization removed and the
split sizes when their files are found beside the event table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cts.data.demo import DEMO_MARKER
from cts.data.splits import SPLITS, read_splits
from cts.data.time_bins import N_PAPER_BINS, PAPER_BIN_EDGES


def bin_labels() -> list[str]:
    edges = ["-inf", *(f"{e:g}" for e in PAPER_BIN_EDGES), "inf"]
    return [f"[{edges[i]}, {edges[i + 1]})" for i in range(N_PAPER_BINS)]


def describe_events(events, top: int = 20) -> dict:
    per_admission = events.groupby("hadm_id", sort=False).size().to_numpy()
    time = events["time"].to_numpy()
    counts = events["event"].value_counts()
    stats = {
        "rows": int(len(events)),
        "admissions": int(len(per_admission)),
        "distinct_events": int((counts > 0).sum()),
        "events_per_admission": {
            "mean": float(per_admission.mean()), "median": float(np.median(per_admission)),
            "p10": float(np.percentile(per_admission, 10)), "p90": float(np.percentile(per_admission, 90)),
            "min": int(per_admission.min()), "max": int(per_admission.max()),
        },
        "share_of_events": {"before_admission": float((time < 0).mean()), "at_admission": float((time == 0).mean()),
                            "after_admission": float((time > 0).mean())},
        "time_hours": {"min": float(time.min()), "median": float(np.median(time)), "max": float(time.max())},
        "time_bins": dict(zip(bin_labels(), np.bincount(events["time_bin"], minlength=N_PAPER_BINS).tolist())),
        "top_events": {str(k): int(v) for k, v in counts.head(top).items()},
    }
    if "subject_id" in events.columns:
        stats["subjects"] = int(events["subject_id"].nunique())
    return stats


def sources(input: Path, normalization: str | Path | None, splits: str | Path | None):
    """(normalization counts, splits path, synthetic) found beside the input when not given: ``<input>.counts.json``
    from ``stage=normalize``, or the demo's ``demo.json`` for its normalized table; ``splits.parquet``; a
    ``demo.json`` beside the input marks the synthetic corpus."""
    demo = input.parent / DEMO_MARKER
    if normalization and not Path(normalization).exists():
        raise FileNotFoundError(f"stage.normalization={normalization}: no such file (stage=normalize writes "
                                "<output>.counts.json)")
    counts = Path(normalization) if normalization else input.with_name(input.name + ".counts.json")
    if counts.exists():
        removed = json.loads(counts.read_text())
    elif demo.exists() and input.name == "events_normalized.parquet":
        removed = json.loads(demo.read_text()).get("normalization")
    else:
        removed = None
    if splits and not Path(splits).exists():
        raise FileNotFoundError(f"splits={splits}: no such file")
    splits = Path(splits) if splits else input.parent / "splits.parquet"
    return removed, splits if splits.exists() else None, demo.exists()


def split_sizes(events, splits_path: Path) -> dict:
    """Admissions and events per split; admissions missing from the splits file are counted as ``unassigned``."""
    splits = read_splits(splits_path).set_index("hadm_id")["split"]
    split = events["hadm_id"].map(splits).astype(object).fillna("unassigned")
    per_admission = split.groupby(events["hadm_id"]).first()
    return {name: {"admissions": int((per_admission == name).sum()), "events": int((split == name).sum())}
            for name in [*SPLITS, "unassigned"] if (per_admission == name).any()}
