"""Observation → hypothesis as conditional generation: the loss covers only the hypothesis ``t:event``.

Causal models read ``observation\\n[SEP] t:event<eos>``; BERT reads ``[CLS] observation [SEP] [MASK]… [SEP]``
and fills the hypothesis slot (its length known: an oracle the causal models do without).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from cts.training.data import ProbedDataModule, event_token_count, frequent_strings
from cts.training.metrics import normalize_event


class ForecastDataModule(ProbedDataModule):
    """Val probes: ``probe_size`` seeded windows (scored every epoch). Test probes: every test window, or the first
    ``eval_limit`` of a seeded order (null = all). ``event_tokens=N``: the N most frequent train hypothesis events
    (seen at least twice) become one token each, as in nextevent; other events are spelled in subword pieces."""

    task = "forecast"
    columns = ("hadm_id", "observation", "hypothesis", "hypothesis_event", "hypothesis_time", "hypothesis_ties",
               "last_event", "observation_times", "observation_events", "window_start", "hypothesis_index")

    def __init__(self, *args, eval_limit: int | None = None, event_tokens: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_limit = None if eval_limit is None else int(eval_limit)
        self.event_tokens = event_token_count(event_tokens)

    def module_kwargs(self) -> dict:
        """Also the share of train windows whose hypothesis repeats an event of their observation
        (``exclude_seen=auto``)."""
        frame = self.frames["train"]
        repeats = [normalize_event(str(h)) in {normalize_event(str(e)) for e in observed}
                   for h, observed in zip(frame["hypothesis_event"], frame["observation_events"])]
        return {**super().module_kwargs(), "train_repeat_share": float(np.mean(repeats)) if repeats else 0.0}

    def word_tokens(self) -> tuple[str, ...]:
        return frequent_strings(self.frames["train"]["hypothesis_event"], self.event_tokens) if self.event_tokens \
            else ()

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
        """Seeded rows of the split up to its limit: prompt = the tokenized observation (cached), target = the
        hypothesis tokens, the truth, its ``ties``, the admission (``group``), the observation's events (``seen``),
        the hypothesis's index in its admission (``position``) and the baselines' inputs."""
        frame, data = self.frames[split], self.datasets[split].columns
        limit = self.probe_size if split == "val" else self.eval_limit
        rows = np.random.default_rng(self.seed).permutation(len(frame))[:limit]
        probes = []
        for row in rows:
            prompt_length, span_length = int(data["prompt_length"][row]), int(data["span_length"][row])
            labels = list(data["labels"][row])  # the hypothesis tokens (BERT's input holds [MASK]s there)
            probes.append({"prompt": list(data["input_ids"][row][:prompt_length]),
                           "target": labels[prompt_length:prompt_length + span_length],
                           "hours": float(frame["hypothesis_time"].iat[row]),
                           "event": str(frame["hypothesis_event"].iat[row]),
                           "ties": [str(e) for e in frame["hypothesis_ties"].iat[row]],
                           "group": int(frame["hadm_id"].iat[row]), "last_event": str(frame["last_event"].iat[row]),
                           "observation_times": [float(t) for t in frame["observation_times"].iat[row]],
                           "seen": [str(e) for e in frame["observation_events"].iat[row]],
                           "position": int(frame["window_start"].iat[row] + frame["hypothesis_index"].iat[row])})
        return probes
