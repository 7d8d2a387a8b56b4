"""Whole-admission event sequences → LM chunks of ``max_length`` tokens, plus next-event probes on held-out
admissions (val/test): the lines before a seeded position are the prompt, the line at it the truth."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tokenizers import AddedToken

from cts.data.time_bins import log_bucket_tokens
from cts.training.data import ProbedDataModule, event_token_count, frequent_strings
from cts.training.metrics import normalize_event

log = logging.getLogger(__name__)
POSITIONS = ("all", "one")


class NextEventDataModule(ProbedDataModule):
    """Val probes: one seeded position of each of ``probe_size`` admissions (scored every epoch). Test probes: every
    position after the first of every test admission with at least two events (``test_positions=all``; ``one``: one
    seeded position per admission, as val), of all test admissions or the first ``eval_limit`` of a seeded order."""

    task = "nextevent"
    columns = ("hadm_id", "text", "events", "times")
    extra_tokens = ("[TIME]", "[EVENT]", *log_bucket_tokens())

    def __init__(self, *args, max_new_tokens: int = 32, eval_limit: int | None = None, test_positions: str = "all",
                 event_tokens: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.event_tokens = event_token_count(event_tokens)
        if self.event_tokens:  # markers take in the spaces after them, [EVENT] also before (a line's [TIME] never
            # takes the newline before it, which ends the previous line)
            self.extra_tokens = tuple(AddedToken(token, lstrip=token == "[EVENT]", rstrip=True, special=True,
                                                 normalized=False) for token in type(self).extra_tokens)
        self.max_new_tokens = int(max_new_tokens)
        self.eval_limit = None if eval_limit is None else int(eval_limit)
        if test_positions not in POSITIONS:
            raise ValueError(f"task.datamodule.test_positions must be one of {POSITIONS}, got {test_positions!r}")
        self.test_positions = test_positions

    def train_texts(self, frame: pd.DataFrame):
        return frame["text"]

    def module_kwargs(self) -> dict:
        """Also the share of train events that repeat an earlier event of their admission (``exclude_seen=auto``)."""
        events = [{normalize_event(str(e)) for e in sequence} for sequence in self.frames["train"]["events"]]
        total = sum(map(len, self.frames["train"]["events"]))
        return {**super().module_kwargs(), "train_repeat_share": 1 - sum(map(len, events)) / total if total else 0.0}

    def word_tokens(self) -> tuple[str, ...]:
        events = (e for sequence in self.frames["train"]["events"] for e in sequence)
        return frequent_strings(events, self.event_tokens) if self.event_tokens else ()

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
        """Prediction points of held-out admissions: at test (``test_positions=all``) every position after the
        first, else one seeded position (never the first event) per admission; up to the split's admission limit.

        Each probe holds the prompt ids, the true line's ids (``target``), the truth (``hours``, ``event``), the
        events ``ties`` at the true time not yet seen (any of them is a correct next event), the admission
        (``group``), its ``position`` and what the baselines condition on (``previous_event``, ``previous_hours``,
        ``seen``; ``history_times``)."""
        frame = self.frames[split]
        limit = self.probe_size if split == "val" else self.eval_limit
        every = split == "test" and self.test_positions == "all"
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(frame))
        rows, skipped = [], 0
        for row in order:
            events = list(map(str, frame["events"].iat[row]))
            if len(frame["text"].iat[row].split("\n")) != len(events):  # a newline inside an event: lines ≠ events
                skipped += 1
                continue
            if len(events) < 2:
                continue
            rows.append((row, range(1, len(events)) if every else [int(rng.integers(1, len(events)))]))
            if limit is not None and len(rows) == limit:
                break
        if skipped:
            log.warning("%s %s: %d admission(s) skipped for next-event probes (event text with newlines)",
                        self.task, split, skipped)
        return self._encode_probes(frame, rows)

    def _encode_probes(self, frame: pd.DataFrame, rows: list[tuple[int, range | list[int]]]) -> list[dict]:
        """Tokenize each admission once: the prompt of position p is the tokens of the text before its line (cut
        at the line's first character by the tokenizer's offsets), the target its line tokenized alone."""
        probes = []
        for row, positions in rows:
            text = frame["text"].iat[row]
            events, times = list(map(str, frame["events"].iat[row])), np.asarray(frame["times"].iat[row], float)
            lines = text.split("\n")
            starts = np.cumsum([0] + [len(line) + 1 for line in lines])
            encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids, ends = encoded["input_ids"], np.array([end for _, end in encoded["offset_mapping"]] or [0])
            firsts = np.array([start for start, _ in encoded["offset_mapping"]] or [0])
            targets = self.tokenizer([lines[p] for p in positions], add_special_tokens=False)["input_ids"]
            for position, span in zip(positions, targets):
                cut = int(np.searchsorted(ends, starts[position], side="right"))  # tokens ending by the line start
                if cut < len(ids) and firsts[cut] < starts[position]:  # a token spans the boundary: re-encode
                    prefix = self.tokenizer("\n".join(lines[:position]) + "\n", add_special_tokens=False)
                    head = prefix["input_ids"]
                else:
                    head = ids[:cut]
                tied = position + int(np.argmax(np.append(times[position:], np.inf) != times[position]))
                # the most recent history that leaves room for this probe's answer (generated or scored) in
                # max_length: per probe, so one long event text elsewhere does not cut every prompt (real timelines)
                budget = max(1, self.spec.max_length - max(self.max_new_tokens, len(span)) - 2)
                prompt = self._wrap(head[-budget:])[:-1] if self.spec.objective == "masked_lm" else head[-budget:]
                probes.append({"prompt": prompt, "target": list(span), "hours": float(times[position]),
                               "event": events[position], "ties": events[position:tied],
                               "group": int(frame["hadm_id"].iat[row]), "position": int(position),
                               "previous_event": events[position - 1], "previous_hours": float(times[position - 1]),
                               "seen": events[:position], "history_times": times[:position].tolist()})
        return probes
