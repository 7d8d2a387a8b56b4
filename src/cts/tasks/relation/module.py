"""3-class event-pair relation on any backbone: pooled text [; time encoding] → the authors' 256-unit MLP head.

Metrics: accuracy, macro-F1, F1 per class; the test confusion matrix (row percentages, N and F1 per class) is a
figure of the run report (``test_figures``). At test end
``test_evaluation`` hands the runner the model's prediction for every scored test row and the baselines of
``cts.tasks.relation.baselines`` (fitted on the train rows, scored on the same test rows) for bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from cts.models.heads import TIME_ENCODINGS, ClassificationHead, TimeEncoding, pool
from cts.tasks.relation.baselines import predict_baselines
from cts.tasks.relation.build import LABELS
from cts.training.evaluation import TestEvaluation, classification_statistics
from cts.training.module import TaskModule
from cts.viz.figures import confusion_figure


def _scores() -> MetricCollection:
    n = len(LABELS)
    return MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                             "macro_f1": MulticlassF1Score(n, average="macro"),
                             "f1": MulticlassF1Score(n, average="none")})


def class_weight_vector(class_weights, label_counts=None) -> list[float] | None:
    """The cross-entropy weight of each label: None (``null``/``none``: unweighted), ``balanced`` (n / (k · n_c)
    over the train labels ``label_counts``, as scikit-learn's ``class_weight="balanced"``: on T2S2's real timelines
    88 % of the pairs are "same", and unweighted the model predicts nothing else) or one number per label."""
    if class_weights is None or (isinstance(class_weights, str) and class_weights.lower() == "none"):
        return None
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"task.module.class_weights must be null, balanced or {len(LABELS)} numbers "
                             f"({', '.join(LABELS)}); got {class_weights!r}")
        if label_counts is None:
            raise ValueError("task.module.class_weights=balanced needs the train label counts (label_counts)")
        counts = np.asarray(label_counts, dtype=np.float64)
        present = counts > 0
        weights = np.zeros(len(LABELS))
        weights[present] = counts.sum() / (present.sum() * counts[present])  # absent labels: weight 0, never seen
        return weights.tolist()
    weights = [float(w) for w in class_weights]
    if len(weights) != len(LABELS) or min(weights) < 0 or not any(weights):
        raise ValueError(f"task.module.class_weights: {len(LABELS)} non-negative numbers ({', '.join(LABELS)}), "
                         f"not all 0; got {list(class_weights)}")
    return weights


class RelationModule(TaskModule):
    TIME_ENCODINGS = TIME_ENCODINGS

    def __init__(self, spec, tokenizer, time_encoding: str = "bins", time_dim: int = 50, head_hidden: int = 256,
                 dropout: float = 0.1, monitor: str = "val/macro_f1", mode: str = "max", class_weights=None,
                 label_counts=None):
        super().__init__(spec, tokenizer, monitor, mode)
        # the loss's class weights (not saved in checkpoints: they follow the config and the train labels)
        weights = class_weight_vector(class_weights, label_counts)
        self.register_buffer("class_weight", None if weights is None else torch.tensor(weights, dtype=torch.float32),
                             persistent=False)
        self.backbone = spec.build("encoder", tokenizer)
        self.time_encoding = TimeEncoding(time_encoding, time_dim)
        self.head = ClassificationHead(self.backbone.config.hidden_size + self.time_encoding.dim, len(LABELS),
                                       head_hidden, dropout)
        self.scores = torch.nn.ModuleDict({s: _scores() for s in ("val", "test")})
        self.confusion = torch.nn.ModuleDict({s: MulticlassConfusionMatrix(len(LABELS)) for s in ("val", "test")})
        self.test_confusion: np.ndarray | None = None  # the last test epoch's (every rank's: a synced metric)
        self._test_rows: list[tuple[int, int]] = []  # (row, predicted label) of this rank's test batches
        self.test_predictions: dict[int, int] = {}  # every rank's, after the test epoch

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        pooled = pool(out.last_hidden_state, batch["attention_mask"], self.spec.pooling,
                      getattr(out, "pooler_output", None))
        return self.head(torch.cat([pooled, self.time_encoding(batch["time_a"]).to(pooled.dtype)], dim=-1))

    def step(self, batch: dict, stage: str):
        logits = self(batch)
        labels = batch["label"]
        weight = None if self.class_weight is None else self.class_weight.to(logits.dtype)
        loss = torch.nn.functional.cross_entropy(logits, labels, weight=weight)
        if stage != "train":
            predictions = logits.argmax(-1)
            self.scores[stage].update(predictions, labels)
            self.confusion[stage].update(predictions, labels)
            if stage == "test":
                self._test_rows.extend(zip(batch["row"].tolist(), predictions.tolist()))
        return loss, len(labels)

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        scores = self.scores[stage].compute()
        matrix = self.confusion[stage].compute().cpu().numpy()
        for metric in (self.scores[stage], self.confusion[stage]):
            metric.reset()
        if stage == "test":
            self.test_confusion = matrix
        per_class = {f"f1_{name}": scores["f1"][i] for i, name in enumerate(LABELS)}
        return {"acc": scores["acc"], "macro_f1": scores["macro_f1"], **per_class}

    def on_test_epoch_start(self):
        self._test_rows = []

    def on_test_epoch_end(self):
        super().on_test_epoch_end()
        # DDP ranks pad to equal batch counts, so a row may be scored twice: one prediction per row
        self.test_predictions = dict(self.gather(self._test_rows))
        self._test_rows = []

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The model's label for every scored test row and each baseline's for the same rows."""
        if not self.test_predictions:
            raise RuntimeError("test_evaluation needs trainer.test to have run first (no test predictions)")
        rows = np.array(sorted(self.test_predictions))
        predicted = np.array([self.test_predictions[row] for row in rows], dtype=np.int64)
        test = datamodule.frames["test"].iloc[rows].reset_index(drop=True)
        truth = test["label"].to_numpy(np.int64)
        baselines = predict_baselines(datamodule.frames["train"], test)
        return TestEvaluation(groups=test["hadm_id"].to_numpy(),
                              model=classification_statistics(predicted, truth, LABELS),
                              baselines={name: classification_statistics(labels, truth, LABELS)
                                         for name, labels in baselines.items()},
                              headline=self.monitor.removeprefix("val/"), higher_is_better=self.mode == "max")

    def test_figures(self, datamodule, summary: dict) -> dict:
        """The test confusion matrix: row percentages and counts, each true class with its N and F1."""
        if self.test_confusion is None:
            return {}
        f1 = [summary["metrics"].get(f"test/f1_{name}") for name in LABELS]
        return {"confusion_matrix_test": confusion_figure(self.test_confusion, list(LABELS),
                                                          f"test: {self.spec.name}", f1)}
