"""Relation pairs → token ids (``event_a [SEP] event_b``), the first event's hours and the label."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from cts.tasks.relation.build import LABELS
from cts.training.data import TaskDataModule


class RelationDataModule(TaskDataModule):
    task = "relation"
    columns = ("event_a", "event_b", "time_a", "time_b", "label")

    def train_texts(self, frame: pd.DataFrame):
        return itertools.chain(frame["event_a"], frame["event_b"])

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        labels = frame["label"].to_numpy()
        bad = np.flatnonzero((labels < 0) | (labels >= len(LABELS)))
        if len(bad):
            raise ValueError(f"{self._path(split)}: row {int(bad[0])}, column 'label': {labels[bad[0]]} is not in "
                             f"0..{len(LABELS) - 1} ({', '.join(LABELS)})")
        first, second = frame["event_a"].astype(str).tolist(), frame["event_b"].astype(str).tolist()
        limit = {"truncation": True, "max_length": self.spec.max_length}
        if self.spec.pair_template == "native":  # the tokenizer's own pair template: [CLS] a [SEP] b [SEP]
            encoded = self.tokenizer(first, second, **limit)
        else:  # causal models read "a [SEP] b" and are pooled at the last token
            sep = self.tokenizer.sep_token
            encoded = self.tokenizer([f"{a} {sep} {b}" for a, b in zip(first, second)], **limit)
        return {"input_ids": encoded["input_ids"], "time_a": frame["time_a"].to_numpy(np.float32),
                "label": labels.astype(np.int64)}

    def module_kwargs(self) -> dict:
        counts = np.bincount(self.frames["train"]["label"].to_numpy(), minlength=len(LABELS))
        return {**super().module_kwargs(), "class_counts": counts.tolist()}
