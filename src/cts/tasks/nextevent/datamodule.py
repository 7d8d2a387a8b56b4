"""Whole-admission event sequences → LM chunks of ``max_length`` tokens, plus next-event probes on held-out
admissions (val/test): the lines before a seeded position are the prompt, the line at it the truth."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cts.data.time_bins import log_bucket_tokens
from cts.training.data import ProbedDataModule

log = logging.getLogger(__name__)


class NextEventDataModule(ProbedDataModule):
    task = "nextevent"
    columns = ("text", "events", "times")
    extra_tokens = ("[TIME]", "[EVENT]", *log_bucket_tokens())

    def __init__(self, *args, max_new_tokens: int = 32, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_new_tokens = int(max_new_tokens)

    def train_texts(self, frame: pd.DataFrame):
        return frame["text"]

    def _wrap(self, ids: list[int]) -> list[int]:
        """Masked LMs see [CLS] … [SEP]; causal models see the bare tokens."""
        if self.spec.objective == "masked_lm":
            return [self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id]
        return ids

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        masked = self.spec.objective == "masked_lm"
        width = self.spec.max_length - (2 if masked else 0)
        eos = [] if masked else [self.tokenizer.eos_token_id]
        chunks = []
        for ids in self.tokenizer(frame["text"].tolist(), add_special_tokens=False)["input_ids"]:
            ids = ids + eos  # an admission ends with end-of-text for causal models
            chunks.extend(self._wrap(ids[start:start + width]) for start in range(0, len(ids), width))
        return {"input_ids": chunks}

    def probes(self, split: str) -> list[dict]:
        """Up to ``probe_size`` held-out admissions, one seeded prediction point each (never the first event)."""
        frame = self.frames[split]
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(frame))
        prompts, targets, truth, skipped = [], [], [], 0
        for row in order:
            events, times = frame["events"].iat[row], frame["times"].iat[row]
            lines = frame["text"].iat[row].split("\n")
            if len(lines) != len(events):  # an event containing a newline: line ↔ event alignment is lost
                skipped += 1
                continue
            if len(events) < 2:
                continue
            position = int(rng.integers(1, len(events)))
            prompts.append("\n".join(lines[:position]) + "\n")
            targets.append(lines[position])
            truth.append((float(times[position]), str(events[position])))
            if len(truth) == self.probe_size:
                break
        if skipped:
            log.warning("%s %s: %d admission(s) skipped for next-event probes (event text with newlines)",
                        self.task, split, skipped)
        spans = self.tokenizer(targets, add_special_tokens=False)["input_ids"] if targets else []
        budget = self.spec.max_length - max(self.max_new_tokens, max((len(s) for s in spans), default=0)) - 2
        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
        probes = []
        for ids, span, (hours, event) in zip(encoded, spans, truth):
            prompt = self._wrap(ids[-budget:])[:-1] if self.spec.objective == "masked_lm" else ids[-budget:]
            probes.append({"prompt": prompt, "span": len(span), "hours": hours, "event": event})
        return probes
