"""Risk cohort → token ids: each admission's ``[TIME] t [EVENT] e`` segments up to its prediction time, the most
recent ones that fit ``task.max_length`` (else ``model.max_length``; older events are dropped first), with the label
and the last event's hours."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from torch.utils.data import BatchSampler, DataLoader, WeightedRandomSampler

from cts.data.labels import read_labels
from cts.tasks.common import hours_text
from cts.tasks.risk.build import EMPTY_POLICIES, LEAK_TERMS, make_cohort
from cts.training.data import SPLITS, PadCollator, TaskDataModule, file_hash, world_rank

log = logging.getLogger(__name__)

IMBALANCE = ("weighted", "sampler", "none")


class RiskCohortError(ValueError):
    """The labels, splits and sequences cannot make a leakage-safe cohort; the message says what to run."""


class RiskDataModule(TaskDataModule):
    task = "risk"
    columns = ("hadm_id", "events", "times")
    extra_tokens = ("[TIME]", "[EVENT]")

    def __init__(self, *args, labels: str | None = None, labels_dir: str | None = None, outcome: str = "mortality",
                 horizon_hours: float | None = 24.0,
                 leak_terms=LEAK_TERMS, empty: str = "keep", max_events: int | None = None,
                 time_in_text: bool = True, imbalance: str = "weighted", meds_dir: str | None = None,
                 admissions: str | None = None, max_length: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if empty not in EMPTY_POLICIES:
            raise ValueError(f"task.empty must be one of {EMPTY_POLICIES}, got {empty!r}")
        if imbalance not in IMBALANCE:
            raise ValueError(f"task.imbalance must be one of {IMBALANCE}, got {imbalance!r}")
        # a label file, else the outcome's file among the data's labels (stage=labels writes <outcome>.parquet)
        self.labels_path = labels or (str(Path(labels_dir) / f"{outcome}.parquet") if labels_dir else None)
        self.horizon_hours = None if horizon_hours is None else float(horizon_hours)
        self.leak_terms, self.empty = tuple(leak_terms or ()), empty
        self.max_events = None if max_events is None else int(max_events)
        self.time_in_text, self.imbalance = bool(time_in_text), imbalance
        self.meds_dir, self.admissions = meds_dir, admissions
        self.max_length = int(max_length) if max_length else None  # tokens per sequence; None: model.max_length
        self.labels: pd.DataFrame | None = None
        self.reports: dict = {}

    # -- cohort ------------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.tokenizer is not None:
            return
        if not self.labels_path or not Path(self.labels_path).is_file():
            raise RiskCohortError(
                f"task=risk needs labels: data.labels={self.labels_path} does not exist. Derive them with `python "
                f"preprocess.py stage=labels admissions=PATH/TO/hosp/admissions.csv.gz outcome=mortality "
                f"output={self.labels_path}` (the demo: `python preprocess.py stage=demo` writes them), or give "
                f"data.labels=TABLE (hadm_id, label[, prediction_time]) or a MEDS label file with task.meds_dir=DIR")
        self.labels, label_counts = read_labels(self.labels_path, self.meds_dir, self.admissions)
        if "subject_id" in pq.read_schema(self._path("train")).names:
            self.columns = (*type(self).columns, "subject_id")
        super().prepare()
        self._check_subject_splits()
        in_events = np.concatenate([pq.read_table(self._path(s), columns=["hadm_id"]).column(0).to_numpy()
                                    for s in SPLITS])
        absent = int((~self.labels["hadm_id"].isin(in_events)).sum())
        log.info("risk labels %s: %d admissions, %d positive; %d duplicate rows dropped; %d for admissions absent "
                 "from the events (skipped)", self.labels_path, len(self.labels), int(self.labels["label"].sum()),
                 label_counts["duplicate_rows_dropped"], absent)
        self.reports["labels_absent_from_events"] = absent
        for split in SPLITS:
            log.info("risk %s: %s", split, self.reports[split].line())

    def read(self, split: str) -> pd.DataFrame:
        rows = super().read(split)
        cohort, report = make_cohort(rows, self.labels, self.horizon_hours, self.leak_terms, self.empty)
        self.reports[split] = report
        if cohort.empty:
            raise RiskCohortError(f"{self._path(split)}: no labelled admission left in the {split} split "
                                  f"({report.line()}); are data.labels and the events from the same source?")
        if self.max_events:
            cohort["events"] = cohort["events"].map(lambda e: e[-self.max_events:])
            cohort["times"] = cohort["times"].map(lambda t: t[-self.max_events:])
        return cohort

    def _check_subject_splits(self) -> None:
        """No patient may have admissions in two splits (their history would leak into evaluation)."""
        if "subject_id" not in self.frames["train"]:
            log.warning("risk: no subject_id in the events or labels, so splits are by admission; a patient's "
                        "admissions may sit in train and test (give labels from `stage=labels`, which carry it)")
            return
        placed = pd.concat([f[["subject_id"]].assign(split=s) for s, f in self.frames.items()])
        spread = placed.drop_duplicates().groupby("subject_id")["split"].nunique()
        torn = spread[spread > 1]
        if len(torn):
            raise RiskCohortError(
                f"{self.data_dir}: {len(torn)} patient(s) have admissions in more than one split (e.g. subject_id "
                f"{torn.index[0]}): split by patient first (`python preprocess.py stage=splits input=EVENTS "
                f"admissions=PATH/TO/hosp/admissions.csv.gz`), then rebuild (`stage=build task=risk`)")

    # -- tokens ------------------------------------------------------------------------------------------------
    def encoding_params(self) -> tuple:
        return ("segments", file_hash(Path(self.labels_path)), self.horizon_hours, self.leak_terms, self.empty,
                self.max_events, self.time_in_text, self.meds_dir, self.admissions, self.max_length)

    def _segments(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Every event's text segment, flattened, and the number of segments per admission."""
        counts = frame["events"].map(len).to_numpy()
        names = [str(e) for events in frame["events"] for e in events]
        if self.time_in_text:
            hours = hours_text(np.concatenate([np.asarray(t, float) for t in frame["times"]] or [np.empty(0)]))
            segments = [f"[TIME] {h} [EVENT] {e}" for h, e in zip(hours.to_pylist(), names)]
        else:
            segments = [f"[EVENT] {e}" for e in names]
        return segments, counts

    def train_texts(self, frame: pd.DataFrame):
        segments, counts = self._segments(frame)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return (" ".join(segments[a:b]) for a, b in itertools.pairwise(bounds))

    def _frame_tokens(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after a single sequence (``[CLS]``/``[SEP]``, BOS…)."""
        bare = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("x")["input_ids"]
        start = next(i for i in range(len(full)) if full[i:i + len(bare)] == bare)
        return full[:start], full[start + len(bare):]

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        segments, counts = self._segments(frame)
        ids = self.tokenizer(segments, add_special_tokens=False)["input_ids"] if segments else []
        prefix, suffix = self._frame_tokens()
        budget = (self.max_length or self.spec.max_length) - len(prefix) - len(suffix)
        sequences, segment_ids, segment_hours, start = [], [], [], 0
        for count, times in zip(counts, frame["times"]):
            kept, used = [], 0
            for segment in reversed(ids[start:start + count]):  # most recent first, until the budget is spent
                if used + len(segment) > budget:
                    break
                kept.append(segment)
                used += len(segment)
            kept.reverse()
            body = [token for segment in kept for token in segment] or [self.tokenizer.sep_token_id]
            sequences.append(prefix + body + suffix)
            # which kept event (1, 2, … in time order; 0: special tokens) each token belongs to, and its hours
            events = np.repeat(np.arange(1, len(kept) + 1), [len(segment) for segment in kept]) if kept else [0]
            tokens = np.concatenate([np.zeros(len(prefix), int), events, np.zeros(len(suffix), int)])
            hours = np.concatenate([[0.0], np.asarray(times, dtype=np.float64)[count - len(kept):]])
            segment_ids.append(tokens.tolist())
            segment_hours.append(hours[tokens].tolist())
            start += count
        last = np.array([t[-1] if len(t) else 0.0 for t in frame["times"]], dtype=np.float32)
        return {"input_ids": sequences, "segment_ids": segment_ids, "segment_hours": segment_hours,
                "label": frame["label"].to_numpy(np.float32), "time_last": last,
                "hadm_id": frame["hadm_id"].to_numpy(np.int64)}

    # -- Lightning ---------------------------------------------------------------------------------------------
    def module_kwargs(self) -> dict:
        labels = self.frames["train"]["label"].to_numpy()
        return {**super().module_kwargs(), "class_counts": np.bincount(labels, minlength=2).tolist()}

    def train_dataloader(self) -> DataLoader:
        if self.imbalance != "sampler":
            return super().train_dataloader()
        labels = self.frames["train"]["label"].to_numpy()
        weights = 1.0 / np.bincount(labels, minlength=2).clip(min=1)[labels]
        world, rank = world_rank()  # under DDP each rank draws its own share (not the same batches twice)
        sampler = WeightedRandomSampler(weights.tolist(), num_samples=-(-len(labels) // world), replacement=True,
                                        generator=torch.Generator().manual_seed(self.seed + rank))
        return DataLoader(self.datasets["train"], batch_sampler=BatchSampler(sampler, self.batch_size, False),
                          collate_fn=PadCollator(self.tokenizer.pad_token_id), num_workers=self.num_workers)
