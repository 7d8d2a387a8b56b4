"""Event-sequence language modelling: loss and perplexity, and for the next event of held-out admissions its
top-1/top-k accuracy, the accuracy of its time bucket and the MAE of its hours."""

from __future__ import annotations

import re

from cts.training.lm import SpanLMModule
from cts.training.metrics import parse_hours

_LINE = re.compile(r"^\s*\[TIME\]\s*(.*?)\s*\[EVENT\]\s*(.*?)\s*$", re.IGNORECASE)


class NextEventModule(SpanLMModule):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metric_names = {"topk": f"top{self.top_k}"}

    def parse(self, text: str) -> tuple[float | None, str]:
        """``[TIME] t [EVENT] e`` → (hours of t, e); anything else → (None, the whole text)."""
        match = _LINE.match(text)
        return (parse_hours(match.group(1)), match.group(2)) if match else (None, text)
