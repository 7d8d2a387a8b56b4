"""Event-sequence language modelling: loss and perplexity, and for the next event of held-out admissions its
strict and tie-aware top-1/top-k accuracy over distinct events, bits per event, the accuracy of its time bucket and
the MAE of its hours — beside most-frequent, bigram and time baselines fitted on train."""

from __future__ import annotations

import re

from cts.tasks.nextevent.baselines import fit_and_predict
from cts.training.lm import SpanLMModule
from cts.training.metrics import parse_hours

_LINE = re.compile(r"^\s*\[TIME\]\s*(.*?)\s*\[EVENT\]\s*(.*?)\s*$", re.IGNORECASE)


class NextEventModule(SpanLMModule):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metric_names = {"topk": f"top{self.top_k}", "topk_tied": f"top{self.top_k}_tied"}

    def parse(self, text: str) -> tuple[float | None, str]:
        """``[TIME] t [EVENT] e`` → (hours of t, e); anything else → (None, the whole text)."""
        match = _LINE.match(text)
        return (parse_hours(match.group(1)), match.group(2)) if match else (None, text)

    def baselines(self, datamodule, probes):
        return fit_and_predict(datamodule.frames["train"], probes, self.top_k)
