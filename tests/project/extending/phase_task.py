"""The smallest task (docs/extending.md, "Adding a task"): is an event before admission, at admission or after it?

Three parts, as every task under ``src/cts/tasks/<task>/`` has them: a builder (event table → rows, run by
``preprocess.py stage=build task=phase``), a DataModule (rows → token ids) and a LightningModule (a backbone, a
head, a loss, epoch metrics and the test evaluation with a baseline). ``conf/task/phase.yaml`` names them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torchmetrics.classification import MulticlassAccuracy

from cts.models.heads import pool
from cts.tasks.textpair import majority_statistics
from cts.training.data import TaskDataModule
from cts.training.evaluation import TestEvaluation, classification_statistics
from cts.training.module import TaskModule

LABELS = ("before", "at", "after")


def build_phase_rows(events: pd.DataFrame) -> pd.DataFrame:
    """One row per event: its admission, its text, its hours and the label (0 before, 1 at, 2 after admission).
    ``run_build`` adds each row's split from its admission."""
    hours = events["time"].to_numpy(np.float64)
    return pd.DataFrame({"hadm_id": events["hadm_id"].to_numpy(), "event": events["event"].astype(str).to_numpy(),
                         "time": hours, "label": (np.sign(hours) + 1).astype(np.int64)})


class PhaseDataModule(TaskDataModule):
    task = "phase"
    columns = ("hadm_id", "event", "label")

    def train_texts(self, frame: pd.DataFrame):
        return frame["event"]

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        ids = self.tokenizer(frame["event"].astype(str).tolist(), truncation=True,
                             max_length=self.spec.max_length)["input_ids"]
        return {"input_ids": ids, "label": frame["label"].to_numpy(np.int64),
                "row": np.arange(len(frame), dtype=np.int64)}


class PhaseModule(TaskModule):
    TIME_ENCODINGS = ("none",)  # what task.time_encoding may be (train.py checks it before anything runs)

    def __init__(self, spec, tokenizer, monitor: str = "val/acc", mode: str = "max"):
        super().__init__(spec, tokenizer, monitor, mode)
        self.backbone = spec.build("encoder", tokenizer)
        self.head = torch.nn.Linear(self.backbone.config.hidden_size, len(LABELS))
        self.accuracy = torch.nn.ModuleDict({s: MulticlassAccuracy(len(LABELS), average="micro")
                                             for s in ("val", "test")})
        self.test_predictions: dict[int, int] = {}

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.head(pool(out.last_hidden_state, batch["attention_mask"], self.spec.pooling,
                              getattr(out, "pooler_output", None)))

    def step(self, batch: dict, stage: str):
        logits = self(batch)
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        if stage != "train":
            predicted = logits.argmax(-1)
            self.accuracy[stage].update(predicted, batch["label"])
            if stage == "test":
                self.test_predictions.update(zip(batch["row"].tolist(), predicted.tolist()))
        return loss, len(batch["label"])

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        if stage == "train":
            return {}
        value = self.accuracy[stage].compute()
        self.accuracy[stage].reset()
        return {"acc": value}

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The scored test rows, resampled by admission, beside the majority label of the train split."""
        scored = np.array(sorted(self.test_predictions), dtype=np.int64)
        rows = datamodule.frames["test"].iloc[scored].reset_index(drop=True)
        predicted = np.array([self.test_predictions[r] for r in scored], dtype=np.int64)
        return TestEvaluation(groups=rows["hadm_id"].to_numpy(),
                              model=classification_statistics(predicted, rows["label"].to_numpy(np.int64), LABELS),
                              baselines={"majority": majority_statistics(datamodule.frames["train"], rows, LABELS)},
                              headline="acc")
