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

    def __init__(self, *args, first_time_text: str = "none", balance_train: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if first_time_text not in FIRST_TIME_TEXT:
            raise ValueError(f"task.datamodule.first_time_text must be one of {FIRST_TIME_TEXT}, "
                             f"got {first_time_text!r}")
        self.first_time_text, self.balance_train = first_time_text, bool(balance_train)

    def encoding_params(self) -> tuple:
        return (self.first_time_text, "row") + (("balanced train",) if self.balance_train else ())

    def sample(self, frame: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
        """With ``balance_train``, the train sample under ``max_rows`` draws the labels equally (a label with fewer
        pairs gives all it has and the others share the rest): on real timelines, where 88 % of the pairs are
        "same", a uniform sample spends most steps on one label. Val and test are always uniform samples."""
        if split != "train" or not self.balance_train:
            return super().sample(frame, split, n, seed)
        groups = {label: rows for label, rows in frame.groupby("label").groups.items()}
        quota, left = {}, n
        for position, (label, rows) in enumerate(sorted(groups.items(), key=lambda item: len(item[1]))):
            quota[label] = min(len(rows), left // (len(groups) - position))
            left -= quota[label]
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.choice(np.asarray(groups[label]), size=quota[label], replace=False)
                                 for label in sorted(quota)])
        return frame.loc[np.sort(chosen)]

    def module_kwargs(self) -> dict:
        """The tokenizer and the train label counts (``task.module.class_weights=balanced`` reads them)."""
        labels = self.frames["train"]["label"].to_numpy(np.int64)
        return {**super().module_kwargs(), "label_counts": np.bincount(labels, minlength=len(LABELS)).tolist()}

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
