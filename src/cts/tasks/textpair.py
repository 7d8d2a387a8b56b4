"""What the text-pair classification tasks read from public datasets share (``task=pubmedqa``: question × abstract;
``task=trials``: patient topic × trial): rows read by a loader instead of built Parquet splits, the pair encoding
of every family, and a classifier (pooled pair → the MLP head) scored by accuracy and macro-F1 with the per-row
class probabilities kept for the task's own metrics and baselines.

A split's rows are a frame with ``group`` (the bootstrap cluster: the PubMedQA item, the trial topic), ``first``,
``second`` and ``label`` (class id); subclasses implement ``load_splits`` and name their ``source_files``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from cts.hashing import file_hash, fingerprint
from cts.models.heads import ClassificationHead, pool
from cts.training.data import TaskDataModule
from cts.training.evaluation import Statistic, TestEvaluation, classification_statistics
from cts.training.module import TaskModule
from cts.viz.figures import confusion_figure


def encode_pairs(tokenizer, spec, first: list[str], second: list[str]) -> list:
    """Token ids of (first, second) pairs: the tokenizer's own pair template (``[CLS] a [SEP] b [SEP]``) for
    ``pair_template=native`` (the longer text cut first), else the text ``a [SEP] b`` (causal families, pooled at
    the last token; its end cut), both to ``spec.max_length``."""
    if spec.pair_template == "native":
        return tokenizer(first, second, truncation=True, max_length=spec.max_length)["input_ids"]
    sep = tokenizer.sep_token
    return tokenizer([f"{a} {sep} {b}" for a, b in zip(first, second)], truncation=True,
                     max_length=spec.max_length)["input_ids"]


class TextPairDataModule(TaskDataModule):
    """Rows from ``load_splits()`` (once); tokenized and cached like every task, keyed by the source files."""

    labels: tuple[str, ...] = ()

    def __init__(self, data_dir: str, spec, batch_size: int = 32, eval_batch_size: int = 64, num_workers: int = 0,
                 seed: int = 0, cache_dir: str = ".cache/cts"):
        """Every row of the published splits (no ``max_rows`` sample, so no ``sample_seed``), nothing to build:
        a data setting for those is refused (:mod:`cts.training.groups`), not ignored."""
        super().__init__(data_dir, spec, batch_size, eval_batch_size, num_workers=num_workers, seed=seed,
                         cache_dir=cache_dir)
        self._splits: dict[str, pd.DataFrame] | None = None

    def source_files(self) -> list[Path]:
        raise NotImplementedError

    def split_params(self) -> tuple:
        """Settings that choose the rows of each split (fold, seeds, candidate pools): part of the cache key."""
        return ()

    def load_splits(self) -> dict[str, pd.DataFrame]:
        raise NotImplementedError

    def read(self, split: str) -> pd.DataFrame:
        if self._splits is None:
            self._splits = self.load_splits()
        frame = self._splits[split]
        if frame.empty:
            raise ValueError(f"{self.task}: no rows in the {split} split ({', '.join(map(str, self.source_files()))})")
        return frame.reset_index(drop=True)

    def source_hash(self, split: str) -> str:
        return fingerprint(*(file_hash(p) for p in self.source_files()), self.split_params(), split)

    def _note_split_unit(self) -> None:  # splits come from the dataset's own protocol, not preprocess's
        pass

    def train_texts(self, frame: pd.DataFrame):
        return itertools.chain(frame["first"], frame["second"])

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        ids = encode_pairs(self.tokenizer, self.spec, frame["first"].astype(str).tolist(),
                           frame["second"].astype(str).tolist())
        return {"input_ids": ids, "label": frame["label"].to_numpy(np.int64),
                "row": np.arange(len(frame), dtype=np.int64)}

    def module_kwargs(self) -> dict:
        return {**super().module_kwargs(), "labels": list(self.labels)}


def _scores(n: int) -> MetricCollection:
    return MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                             "macro_f1": MulticlassF1Score(n, average="macro")})


class TextPairModule(TaskModule):
    """Pooled pair → the MLP head → one of ``labels``; val/test keep each row's class probabilities
    (``self.probabilities[stage]``: row → probabilities) for ``row_metrics`` and ``test_evaluation``."""

    TIME_ENCODINGS = ("none",)

    def __init__(self, spec, tokenizer, labels: Sequence[str], head_hidden: int = 256, dropout: float = 0.1,
                 monitor: str = "val/acc", mode: str = "max"):
        super().__init__(spec, tokenizer, monitor, mode)
        self.labels = tuple(labels)
        self.backbone = spec.build("encoder", tokenizer)
        self.head = ClassificationHead(self.backbone.config.hidden_size, len(self.labels), head_hidden, dropout)
        self.scores = torch.nn.ModuleDict({s: _scores(len(self.labels)) for s in ("val", "test")})
        self._rows: dict[str, list] = {"val": [], "test": []}
        self.probabilities: dict[str, dict[int, np.ndarray]] = {"val": {}, "test": {}}

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.head(pool(out.last_hidden_state, batch["attention_mask"], self.spec.pooling,
                              getattr(out, "pooler_output", None)))

    def step(self, batch: dict, stage: str):
        logits = self(batch)
        labels = batch["label"]
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if stage != "train":
            self.scores[stage].update(logits.argmax(-1), labels)
            probabilities = torch.softmax(logits.detach().float(), -1).cpu().numpy()
            self._rows[stage].extend(zip(batch["row"].tolist(), probabilities))
        return loss, len(labels)

    def on_validation_epoch_start(self):
        self._rows["val"] = []

    def on_test_epoch_start(self):
        self._rows["test"] = []

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        scores = self.scores[stage].compute()
        self.scores[stage].reset()
        # DDP ranks pad to equal batch counts, so a row may be scored twice: one prediction per row
        self.probabilities[stage] = dict(self.gather(self._rows[stage]))
        self._rows[stage] = []
        frame = self.trainer.datamodule.frames[stage] if self.trainer.datamodule is not None else None
        extra = self.row_metrics(*self._scored(stage, frame)) if frame is not None else {}
        return {"acc": scores["acc"], "macro_f1": scores["macro_f1"], **extra}

    def _scored(self, stage: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The scored rows of ``frame`` (in row order) and their class probabilities."""
        rows = np.array(sorted(self.probabilities[stage]), dtype=np.int64)
        probabilities = np.stack([self.probabilities[stage][r] for r in rows]) if len(rows) else \
            np.zeros((0, len(self.labels)))
        return frame.iloc[rows].reset_index(drop=True), probabilities

    # -- task hooks --------------------------------------------------------------------------------------------
    def row_metrics(self, rows: pd.DataFrame, probabilities: np.ndarray) -> dict[str, float]:
        """Epoch metrics beyond accuracy and macro-F1 that need whole rows (e.g. rankings per topic)."""
        return {}

    def statistics(self, rows: pd.DataFrame, probabilities: np.ndarray) -> dict[str, Statistic]:
        """The model's bootstrap statistics on the scored test rows."""
        return classification_statistics(probabilities.argmax(-1), rows["label"].to_numpy(np.int64), self.labels)

    def baselines(self, datamodule, rows: pd.DataFrame) -> dict[str, dict[str, Statistic]]:
        """Each baseline's statistics on exactly the scored test rows (fitted on ``datamodule``'s train split)."""
        return {}

    def test_evaluation(self, datamodule) -> TestEvaluation:
        if not self.probabilities["test"]:
            raise RuntimeError("test_evaluation needs trainer.test to have run first (no test predictions)")
        rows, probabilities = self._scored("test", datamodule.frames["test"])
        return TestEvaluation(groups=rows["group"].to_numpy(), model=self.statistics(rows, probabilities),
                              baselines=self.baselines(datamodule, rows), headline=self.monitor.removeprefix("val/"),
                              higher_is_better=self.mode == "max")

    def test_figures(self, datamodule, summary: dict) -> dict:
        """The test confusion matrix: row percentages and counts, each true class with its N and F1."""
        rows, probabilities = self._scored("test", datamodule.frames["test"])
        n = len(self.labels)
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (rows["label"].to_numpy(np.int64), probabilities.argmax(-1).astype(np.int64)), 1)
        f1 = [summary["metrics"].get(f"test/f1_{name}") for name in self.labels]
        return {"confusion_matrix_test": confusion_figure(matrix, list(self.labels), f"test: {self.spec.name}", f1)}


def majority_statistics(train: pd.DataFrame, rows: pd.DataFrame, labels: Sequence[str]) -> dict[str, Statistic]:
    """The most frequent train label (ties: the lowest id) for every scored row."""
    mode = int(np.argmax(np.bincount(train["label"].to_numpy(np.int64), minlength=len(labels))))
    return classification_statistics(np.full(len(rows), mode), rows["label"].to_numpy(np.int64), labels)

