"""Forecast the held-out event of a window: loss on the hypothesis only; generated ``t:event`` scored by event
exact match, token F1 and |Δhours| MAE (plus time-bucket accuracy)."""

from __future__ import annotations

from cts.training.lm import SpanLMModule
from cts.training.metrics import parse_hours


class ForecastModule(SpanLMModule):
    metric_names = {"top1": "exact_match", "topk": "topk_match"}

    def __init__(self, *args, top_k: int = 1, **kwargs):
        super().__init__(*args, top_k=top_k, **kwargs)

    def parse(self, text: str) -> tuple[float | None, str]:
        """``t:event`` → (hours of t, event); no colon → (None, the whole text)."""
        time, sep, event = text.partition(":")
        return (parse_hours(time), event.strip()) if sep else (None, text.strip())
