"""Relation pairs → token ids (``event_a [SEP] event_b``), the first event's hours, the label and the row index
(so test predictions are matched back to their rows for the bootstrap and the baselines)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from cts.tasks.relation.build import LABELS
from cts.tasks.textpair import encode_pairs
from cts.training.data import TaskDataModule

FIRST_TIME_TEXT = ("none", "words")
_UNITS = ((8760.0, "year"), (720.0, "month"), (168.0, "week"), (24.0, "day"), (1.0, "hour"))


def hours_in_words(hours: float) -> str:
    """The first event's time as a phrase a pretrained encoder reads: ``on admission``, ``3 days before
    admission``, ``5 hours after admission`` (largest whole unit, rounded; under an hour counts as admission)."""
    if not np.isfinite(hours) or abs(hours) < 1:
        return "on admission"
    size, unit = next((size, unit) for size, unit in _UNITS if abs(hours) >= size)
    count = int(round(abs(hours) / size))
    return f"{count} {unit}{'s' if count != 1 else ''} {'before' if hours < 0 else 'after'} admission"


class RelationDataModule(TaskDataModule):
    task = "relation"
    columns = ("hadm_id", "event_a", "event_b", "time_a", "time_b", "label")

    def __init__(self, *args, first_time_text: str = "none", **kwargs):
        super().__init__(*args, **kwargs)
        if first_time_text not in FIRST_TIME_TEXT:
            raise ValueError(f"task.datamodule.first_time_text must be one of {FIRST_TIME_TEXT}, "
                             f"got {first_time_text!r}")
        self.first_time_text = first_time_text

    def encoding_params(self) -> tuple:
        return (self.first_time_text, "row")

    def train_texts(self, frame: pd.DataFrame):
        return itertools.chain(frame["event_a"], frame["event_b"])

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        labels = frame["label"].to_numpy()
        bad = np.flatnonzero((labels < 0) | (labels >= len(LABELS)))
        if len(bad):
            raise ValueError(f"{self._path(split)}: row {int(bad[0])}, column 'label': {labels[bad[0]]} is not in "
                             f"0..{len(LABELS) - 1} ({', '.join(LABELS)})")
        first, second = frame["event_a"].astype(str).tolist(), frame["event_b"].astype(str).tolist()
        if self.first_time_text == "words":  # "cough, 3 days before admission [SEP] wheezing"
            first = [f"{text}, {hours_in_words(hours)}" for text, hours in zip(first, frame["time_a"])]
        return {"input_ids": encode_pairs(self.tokenizer, self.spec, first, second),
                "time_a": frame["time_a"].to_numpy(np.float32),
                "label": labels.astype(np.int64), "row": np.arange(len(frame), dtype=np.int64)}
