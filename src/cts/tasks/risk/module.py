"""Binary risk prediction on any backbone: pooled sequence (or the sum over its events, each with its own hours)
[; time encoding of the last event] → one logit.

Validation and test report AUROC (monitored), AUPRC and the Brier score; the test epoch also writes a MEDS-style
prediction file, ``test_figures`` gives the run report ROC, PR and reliability curves, and ``test_evaluation``
gives the runner the model's and the baselines' (bag of events + logistic regression; the train prevalence as a
constant) bootstrap samples on the same rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.nn.utils.rnn import pad_sequence
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from cts.data.demo import demo_of_task_dir
from cts.data.demo_admissions import admission_features, outcome_logits
from cts.data.labels import OUTCOMES
from cts.io import atomic_path
from cts.models.heads import TIME_ENCODINGS, ClassificationHead, EventSum, TimeEncoding, pool, segment_means
from cts.models.spec import POOLINGS
from cts.tasks.risk.baseline import BagOfEventsBaseline
from cts.tasks.risk.metrics import risk_statistics
from cts.training.evaluation import TestEvaluation
from cts.training.module import TaskModule
from cts.viz import figures

log = logging.getLogger(__name__)

MEDS_ANCHOR = np.datetime64("2000-01-01", "us")  # export_meds' default anchor: admissions without a known admittime
ENCODER_MODES = ("finetune", "frozen")
RISK_POOLINGS = (*POOLINGS, "events")  # events: each event's token states averaged, then EventSum
PREDICTION_SCHEMA = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                               ("boolean_value", pa.bool_()), ("predicted_boolean_value", pa.bool_()),
                               ("predicted_boolean_probability", pa.float64())])


def _scores() -> MetricCollection:
    return MetricCollection({"auroc": BinaryAUROC(), "auprc": BinaryAveragePrecision(), "brier": MeanMetric()})


class RiskModule(TaskModule):
    TIME_ENCODINGS = TIME_ENCODINGS

    def __init__(self, spec, tokenizer, class_counts: list[int], imbalance: str = "weighted",
                 time_encoding: str = "none", time_dim: int = 16, head_hidden: int = 256, dropout: float = 0.1,
                 threshold: float = 0.5, encoder: str = "finetune", head_lr: float | None = None,
                 pooling: str | None = None, event_dim: int = 64, event_time_encoding: str = "loghours",
                 event_reduce: str = "sum",
                 monitor: str = "val/auroc", mode: str = "max"):
        super().__init__(spec, tokenizer, monitor, mode)
        if encoder not in ENCODER_MODES:
            raise ValueError(f"task.encoder must be one of {ENCODER_MODES}, got {encoder!r}")
        if pooling is not None and pooling not in RISK_POOLINGS:
            raise ValueError(f"task.pooling must be one of {RISK_POOLINGS} or null (model.pooling), got {pooling!r}")
        self.pooling = pooling or spec.pooling
        self.backbone = spec.build("encoder", tokenizer)
        # frozen: a pretrained encoder read as it is (eval mode, no gradient), what it gives the head computed once per
        # admission and reused every epoch; presets are random-init, so they are always fine-tuned
        self.frozen = encoder == "frozen" and not spec.preset
        if self.frozen and spec.lora:
            raise ValueError("task.encoder=frozen trains no encoder weights, so model.lora.r > 0 would be ignored: "
                             "use task.encoder=finetune with LoRA")
        if self.frozen:
            self.backbone.requires_grad_(False).eval()
        self._pooled_cache: dict[int, tuple[torch.Tensor, ...]] = {}
        self.head_lr = None if head_lr is None else float(head_lr)
        self.time_encoding = TimeEncoding(time_encoding, time_dim)
        hidden = self.backbone.config.hidden_size
        self.event_sum = (EventSum(hidden, event_dim, event_time_encoding, time_dim, dropout,
                                  event_reduce)
                       if self.pooling == "events" else None)
        pooled_dim = self.event_sum.dim if self.event_sum is not None else hidden
        self.head = ClassificationHead(pooled_dim + self.time_encoding.dim, 1, head_hidden, dropout)
        negative, positive = (int(c) for c in class_counts)
        self.imbalance, self.threshold, self.prevalence = (imbalance, float(threshold),
                                                           positive / max(1, negative + positive))
        weight = negative / positive if imbalance == "weighted" and positive > 0 else 1.0
        self.register_buffer("pos_weight", torch.tensor(float(weight)), persistent=False)
        self.scores = torch.nn.ModuleDict({s: _scores() for s in ("val", "test")})
        self._test_rows: list[tuple[int, float, float]] = []  # (hadm_id, probability, label) of this rank's batches
        self.test_scored: pd.DataFrame | None = None  # every rank's, after the test epoch

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:  # no dropout in a frozen encoder: its features are fixed, so they can be cached
            self.backbone.eval()
        return self

    def _encode(self, batch: dict) -> tuple[torch.Tensor, ...]:
        out = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.head_inputs(out, batch)

    def head_inputs(self, out, batch: dict) -> tuple[torch.Tensor, ...]:
        """What the head reads from the encoder's output: ``(pooled,)``, or with ``pooling=events`` each event's mean
        token state, its hours and whether it is there."""
        if self.event_sum is not None:
            return segment_means(out.last_hidden_state, batch["segment_ids"], batch["segment_hours"])
        return (pool(out.last_hidden_state, batch["attention_mask"], self.pooling,
                     getattr(out, "pooler_output", None)),)

    def remember(self, hadm_ids: list[int], encoded: tuple[torch.Tensor, ...]) -> None:
        """Cache ``head_inputs`` per admission (hadm_ids are unique across splits); events: only the ones it has."""
        for j, hadm in enumerate(hadm_ids):
            keep = int(encoded[2][j].sum()) if self.event_sum is not None else None
            self._pooled_cache[hadm] = tuple(t[j, :keep].cpu() for t in encoded[:2])

    def _frozen_encode(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """``_encode`` of a frozen encoder, computed once per admission."""
        ids = batch["hadm_id"].tolist()
        missing = [i for i, hadm in enumerate(ids) if hadm not in self._pooled_cache]
        if missing:
            rows = torch.tensor(missing, device=batch["input_ids"].device)
            width = int(batch["attention_mask"][rows].sum(-1).max())  # the batch was padded for its longest row
            with torch.no_grad():
                encoded = self._encode({k: v[rows, :width] for k, v in batch.items() if v.dim() == 2})
            self.remember([ids[i] for i in missing], encoded)
        device, cached = batch["input_ids"].device, [self._pooled_cache[hadm] for hadm in ids]
        if self.event_sum is None:
            return (torch.stack([c[0] for c in cached]).to(device),)
        vectors, hours = (pad_sequence([c[k] for c in cached], batch_first=True).to(device) for k in (0, 1))
        lengths = torch.tensor([len(c[1]) for c in cached], device=device)
        return vectors, hours, torch.arange(hours.shape[1], device=device)[None, :] < lengths[:, None]

    def forward(self, batch: dict) -> torch.Tensor:
        encoded = self._frozen_encode(batch) if self.frozen else self._encode(batch)
        pooled = self.event_sum(*encoded) if self.event_sum is not None else encoded[0]
        features = torch.cat([pooled, self.time_encoding(batch["time_last"]).to(pooled.dtype)], dim=-1)
        return self.head(features).squeeze(-1)

    def step(self, batch: dict, stage: str):
        logits = self(batch)
        labels = batch["label"].to(logits.dtype)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=self.pos_weight)
        if stage != "train":
            probability = torch.sigmoid(logits.detach().float())
            metrics = self.scores[stage]
            metrics["auroc"].update(probability, labels.long())
            metrics["auprc"].update(probability, labels.long())
            metrics["brier"].update((probability - labels.float()) ** 2)
            if stage == "test":
                self._test_rows.extend(zip(batch["hadm_id"].tolist(), probability.tolist(), labels.tolist()))
        return loss, len(labels)

    def optimizer_groups(self) -> list:
        """The head (and time encoding) at ``head_lr`` when given; the encoder at the model's learning rate."""
        trainable = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        if self.head_lr is None:
            return [p for _, p in trainable]
        encoder = [p for n, p in trainable if n.startswith("backbone.")]
        head = [p for n, p in trainable if not n.startswith("backbone.")]
        return [{"params": head, "lr": self.head_lr}] + ([{"params": encoder}] if encoder else [])

    def on_test_epoch_start(self):
        self._test_rows, self.test_scored = [], None

    def on_test_epoch_end(self):
        # every rank's rows before the metrics are logged and the files written (a collective: all ranks call it)
        self.test_scored = merge_scored(self.gather(self._test_rows))
        self._test_rows = []
        super().on_test_epoch_end()

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        values = self.scores[stage].compute()
        self.scores[stage].reset()
        if stage == "test" and self.trainer.datamodule is not None:
            self._write_test_outputs(self.trainer.datamodule)
        return dict(values)

    # -- test-end outputs --------------------------------------------------------------------------------------
    def _test_frame(self) -> pd.DataFrame:
        if self.test_scored is None or self.test_scored.empty:
            raise RuntimeError("test_evaluation needs a finished test epoch (trainer.test) that scored admissions")
        return self.test_scored

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """AUROC, AUPRC, Brier of the model and of the baselines, on the same test admissions."""
        scored = self._test_frame()
        test = datamodule.frames["test"].set_index("hadm_id").loc[scored["hadm_id"]].reset_index()
        labels = scored["label"].to_numpy()
        baselines = {"train_prevalence": risk_statistics(np.full(len(labels), self.prevalence), labels)}
        try:
            baseline = BagOfEventsBaseline(self.imbalance).fit(datamodule.frames["train"])
            baselines["bag_of_events_lr"] = risk_statistics(baseline.predict_proba(test), labels)
        except ValueError as error:  # a train split with one outcome only: nothing to fit
            log.warning("risk: no bag-of-events baseline (%s)", error)
        ceiling = demo_risk(datamodule, scored["hadm_id"].to_numpy())
        return TestEvaluation(groups=scored["hadm_id"].to_numpy(),
                              model=risk_statistics(scored["probability"], labels), baselines=baselines,
                              headline="auroc", higher_is_better=True,
                              ceiling={} if ceiling is None else risk_statistics(ceiling, labels))

    @rank_zero_only
    def _write_test_outputs(self, datamodule) -> None:
        out = Path(self.trainer.default_root_dir)
        scored = self._test_frame()
        write_meds_predictions(scored, datamodule.frames["test"], out / "predictions_test.parquet", self.threshold)

    def test_figures(self, datamodule, summary: dict) -> dict:
        """ROC and precision-recall curves and the reliability diagram of the test predictions."""
        from sklearn.metrics import precision_recall_curve, roc_curve

        scored = self._test_frame()
        probability, label = scored["probability"].to_numpy(), scored["label"].to_numpy().astype(int)
        title, metrics = f"test: {self.spec.name} (N={len(label):,})", summary["metrics"]
        bins = reliability_bins(probability, label)
        out = {"reliability_test": figures.reliability_figure(bins["predicted"], bins["observed"], bins["count"],
                                                              f"test: {self.spec.name}")}
        if 0 < label.sum() < len(label):  # both outcomes: the curves are defined
            fpr, tpr, _ = roc_curve(label, probability)
            precision, recall, _ = precision_recall_curve(label, probability)
            out["roc_test"] = figures.roc_figure(fpr, tpr, metrics.get("test/auroc", float("nan")), title)
            out["pr_test"] = figures.pr_figure(recall, precision, metrics.get("test/auprc", float("nan")),
                                               float(label.mean()), title)
        return out


def demo_risk(datamodule, hadm_ids: np.ndarray) -> np.ndarray | None:
    """The ceiling on the demo: each admission's outcome probability as the generator drew it (from its events up to
    24 h, ``cts.data.demo_admissions``), when the labels are the demo's own; None on any other data or labels."""
    demo = demo_of_task_dir(datamodule.data_dir)
    labels = Path(datamodule.labels_path) if datamodule.labels_path else None
    if demo is None or labels is None or labels.resolve() != (demo / "labels" / labels.name).resolve() \
            or labels.stem not in OUTCOMES:
        return None
    events = pd.read_parquet(demo / "events_normalized.parquet", columns=["hadm_id", "event", "time"])
    features = admission_features(events).reindex(hadm_ids, fill_value=0.0)  # no event by 24 h: all features 0
    return 1 / (1 + np.exp(-outcome_logits(features)[labels.stem]))


def merge_scored(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """``hadm_id, probability, label`` from the (hadm_id, probability, label) rows of every rank: one row per
    admission (DDP ranks pad to equal batch counts, so an admission may be scored twice), in first-seen order."""
    frame = pd.DataFrame(rows, columns=["hadm_id", "probability", "label"])
    frame = frame.astype({"hadm_id": np.int64, "probability": np.float64, "label": np.float64})
    return frame.drop_duplicates("hadm_id", keep="first").reset_index(drop=True)


def prediction_times(cohort: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """MEDS ``subject_id`` and ``prediction_time`` per cohort row: the patient at admittime + cut when the admission
    time is known, else the admission as its own subject at the export's anchor + cut (as ``export_meds`` without
    admissions). An open cut (no horizon, no discharge) is placed at the last event seen."""
    last = np.array([t[-1] if len(t) else 0.0 for t in cohort["times"]])
    hours = np.where(np.isfinite(cohort["cut_hours"]), cohort["cut_hours"], last)
    offset = (hours * 3_600_000_000).round().astype("timedelta64[us]")
    admit = (cohort["admittime"].to_numpy("datetime64[us]") if "admittime" in cohort
             else np.full(len(cohort), np.datetime64("NaT", "us")))
    known = ~np.isnat(admit)
    subject = cohort["subject_id"].to_numpy(np.int64) if "subject_id" in cohort else cohort["hadm_id"].to_numpy()
    return (np.where(known, subject, cohort["hadm_id"].to_numpy(np.int64)),
            np.where(known, admit, MEDS_ANCHOR) + offset)


def write_meds_predictions(scored: pd.DataFrame, cohort: pd.DataFrame, path: Path, threshold: float = 0.5) -> Path:
    """``subject_id, prediction_time, boolean_value, predicted_boolean_value, predicted_boolean_probability``."""
    rows = cohort.set_index("hadm_id").loc[scored["hadm_id"]].reset_index()
    subject, when = prediction_times(rows)
    probability = scored["probability"].to_numpy(np.float64)
    table = pa.table({"subject_id": subject, "prediction_time": when,
                      "boolean_value": scored["label"].to_numpy() > 0.5,
                      "predicted_boolean_value": probability >= threshold,
                      "predicted_boolean_probability": probability}, schema=PREDICTION_SCHEMA)
    with atomic_path(path, suffix=".parquet") as temp:
        pq.write_table(table, temp)
    return path


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width probability bins: count, mean predicted probability, observed positive rate."""
    index = np.clip((np.asarray(probabilities) * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": index, "predicted": probabilities, "observed": labels})
    return frame.groupby("bin").agg(count=("observed", "size"), predicted=("predicted", "mean"),
                                    observed=("observed", "mean"))
