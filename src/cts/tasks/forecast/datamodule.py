"""Observation → hypothesis as conditional generation: the loss covers only the hypothesis ``t:event``.

Causal models read ``observation\\n[SEP] t:event<eos>``; BERT reads ``[CLS] observation [SEP] [MASK]… [SEP]``
and fills the hypothesis slot (its length known: an oracle the causal models do without).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from cts.training.data import ProbedDataModule


class ForecastDataModule(ProbedDataModule):
    task = "forecast"
    columns = ("observation", "hypothesis", "hypothesis_event", "hypothesis_time")

    def train_texts(self, frame: pd.DataFrame):
        return itertools.chain(frame["observation"], frame["hypothesis"])

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        tok, masked = self.tokenizer, self.spec.objective == "masked_lm"
        sources = frame["observation"].tolist() if masked else [f"{o}\n{tok.sep_token}" for o in frame["observation"]]
        targets = frame["hypothesis"].tolist() if masked else [f" {h}" for h in frame["hypothesis"]]
        columns = {"input_ids": [], "labels": [], "prompt_length": [], "span_length": []}
        for source, target in zip(tok(sources, add_special_tokens=False)["input_ids"],
                                  tok(targets, add_special_tokens=False)["input_ids"]):
            target = target[: self.spec.max_length // 2]
            if masked:
                prompt = [tok.cls_token_id, *source[-(self.spec.max_length - len(target) - 3):], tok.sep_token_id]
                ids = prompt + [tok.mask_token_id] * len(target) + [tok.sep_token_id]
                labels = [-100] * len(prompt) + target + [-100]
            else:
                prompt = source[-(self.spec.max_length - len(target) - 1):]
                ids = prompt + target + [tok.eos_token_id]
                labels = [-100] * len(prompt) + target + [tok.eos_token_id]
            columns["input_ids"].append(ids)
            columns["labels"].append(labels)
            columns["prompt_length"].append(len(prompt))
            columns["span_length"].append(len(target))
        return columns

    def probes(self, split: str) -> list[dict]:
        """Up to ``probe_size`` seeded rows of the split, prompt = the tokenized observation (cached)."""
        frame, data = self.frames[split], self.datasets[split].columns
        rows = np.random.default_rng(self.seed).permutation(len(frame))[: self.probe_size]
        return [{"prompt": list(data["input_ids"][row][: data["prompt_length"][row]]),
                 "span": int(data["span_length"][row]), "hours": float(frame["hypothesis_time"].iat[row]),
                 "event": str(frame["hypothesis_event"].iat[row])} for row in rows]
