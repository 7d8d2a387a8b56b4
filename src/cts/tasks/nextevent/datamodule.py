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
    """Val probes: ``probe_size`` admissions (scored every epoch). Test probes: every test admission with at least
    two events, or the first ``eval_limit`` of a seeded order (null = all)."""

    task = "nextevent"
    columns = ("hadm_id", "text", "events", "times")
    extra_tokens = ("[TIME]", "[EVENT]", *log_bucket_tokens())

    def __init__(self, *args, max_new_tokens: int = 32, eval_limit: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_new_tokens = int(max_new_tokens)
        self.eval_limit = None if eval_limit is None else int(eval_limit)

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
        """One seeded prediction point (never the first event) per held-out admission, up to the split's limit.

        Each probe holds the prompt ids, the true line's ids (``target``), the truth (``hours``, ``event``), the
        events ``ties`` at the true time not yet seen (any of them is a correct next event), the admission
        (``group``) and what the baselines condition on (``previous_event``, ``previous_hours``, ``seen``)."""
        frame = self.frames[split]
        limit = self.probe_size if split == "val" else self.eval_limit
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(frame))
        prompts, targets, truth, skipped = [], [], [], 0
        for row in order:
            events, times = list(map(str, frame["events"].iat[row])), np.asarray(frame["times"].iat[row], float)
            lines = frame["text"].iat[row].split("\n")
            if len(lines) != len(events):  # an event containing a newline: line ↔ event alignment is lost
                skipped += 1
                continue
            if len(events) < 2:
                continue
            position = int(rng.integers(1, len(events)))
            tied = position + int(np.argmax(np.append(times[position:], np.inf) != times[position]))
            prompts.append("\n".join(lines[:position]) + "\n")
            targets.append(lines[position])
            truth.append({"hours": float(times[position]), "event": events[position], "ties": events[position:tied],
                          "group": int(frame["hadm_id"].iat[row]), "previous_event": events[position - 1],
                          "previous_hours": float(times[position - 1]), "seen": events[:position]})
            if limit is not None and len(truth) == limit:
                break
        if skipped:
            log.warning("%s %s: %d admission(s) skipped for next-event probes (event text with newlines)",
                        self.task, split, skipped)
        spans = self.tokenizer(targets, add_special_tokens=False)["input_ids"] if targets else []
        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
        probes = []
        for ids, span, known in zip(encoded, spans, truth):
            # the most recent history that leaves room for this probe's answer (generated or scored) in max_length:
            # per probe, so one long event text elsewhere in the split does not cut every prompt (real timelines)
            budget = max(1, self.spec.max_length - max(self.max_new_tokens, len(span)) - 2)
            prompt = self._wrap(ids[-budget:])[:-1] if self.spec.objective == "masked_lm" else ids[-budget:]
            probes.append({"prompt": prompt, "target": list(span), **known})
        return probes
