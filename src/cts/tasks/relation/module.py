"""3-class event-pair relation on any backbone: pooled text [; time encoding] → the authors' 256-unit MLP head.

Metrics: accuracy, macro-F1, F1 per class, the confusion matrix (PNG, and to W&B as an image) and, beside them,
the majority-class baseline (the train split's most frequent label) on the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from cts.models.heads import TIME_ENCODINGS, ClassificationHead, TimeEncoding, pool
from cts.tasks.relation.build import LABELS
from cts.training.metrics import save_confusion_matrix
from cts.training.module import TaskModule


def _scores() -> MetricCollection:
    n = len(LABELS)
    return MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                             "macro_f1": MulticlassF1Score(n, average="macro"),
                             "f1": MulticlassF1Score(n, average="none")})


class RelationModule(TaskModule):
    TIME_ENCODINGS = TIME_ENCODINGS

    def __init__(self, spec, tokenizer, class_counts: list[int], time_encoding: str = "bins", time_dim: int = 50,
                 head_hidden: int = 256, dropout: float = 0.1, monitor: str = "val/macro_f1", mode: str = "max"):
        super().__init__(spec, tokenizer, monitor, mode)
        self.backbone = spec.build("encoder", tokenizer)
        self.time_encoding = TimeEncoding(time_encoding, time_dim)
        self.head = ClassificationHead(self.backbone.config.hidden_size + self.time_encoding.dim, len(LABELS),
                                       head_hidden, dropout)
        self.majority = int(np.argmax(class_counts))
        self.scores = torch.nn.ModuleDict({s: _scores() for s in ("val", "test")})
        self.baseline = torch.nn.ModuleDict({s: _scores() for s in ("val", "test")})
        self.confusion = torch.nn.ModuleDict({s: MulticlassConfusionMatrix(len(LABELS)) for s in ("val", "test")})

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        pooled = pool(out.last_hidden_state, batch["attention_mask"], self.spec.pooling,
                      getattr(out, "pooler_output", None))
        return self.head(torch.cat([pooled, self.time_encoding(batch["time_a"]).to(pooled.dtype)], dim=-1))

    def step(self, batch: dict, stage: str):
        logits = self(batch)
        labels = batch["label"]
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if stage != "train":
            predictions = logits.argmax(-1)
            self.scores[stage].update(predictions, labels)
            self.baseline[stage].update(torch.full_like(labels, self.majority), labels)
            self.confusion[stage].update(predictions, labels)
        return loss, len(labels)

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        scores, baseline = self.scores[stage].compute(), self.baseline[stage].compute()
        matrix = self.confusion[stage].compute().cpu().numpy()
        for metric in (self.scores[stage], self.baseline[stage], self.confusion[stage]):
            metric.reset()
        if stage == "test":
            self._save_confusion(matrix, stage)
        per_class = {f"f1_{name}": scores["f1"][i] for i, name in enumerate(LABELS)}
        return {"acc": scores["acc"], "macro_f1": scores["macro_f1"], **per_class,
                "majority_acc": baseline["acc"], "majority_macro_f1": baseline["macro_f1"]}

    @rank_zero_only
    def _save_confusion(self, matrix: np.ndarray, stage: str) -> None:
        path = save_confusion_matrix(matrix, list(LABELS), Path(self.trainer.default_root_dir) /
                                     f"confusion_matrix_{stage}.png", f"{stage}: {self.spec.name}")
        for logger in self.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(f"{stage}/confusion_matrix", images=[str(path)])
