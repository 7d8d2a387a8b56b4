"""Forecast the hypothesis event of a window: loss on the hypothesis only; generated ``t:event`` scored by strict
and tie-aware event match, token F1, |Δhours| MAE with the share of parsed times (history and stay apart), bits per
event — beside most-frequent, bigram and observed-time baselines fitted on train."""

from __future__ import annotations

from cts.tasks.forecast.baselines import fit_and_predict
from cts.training.lm import SpanLMModule
from cts.training.metrics import parse_hours


class ForecastModule(SpanLMModule):
    metric_names = {"top1": "exact_match", "top1_tied": "exact_match_tied", "topk": "topk_match",
                    "topk_tied": "topk_match_tied"}

    def __init__(self, *args, top_k: int = 1, **kwargs):
        super().__init__(*args, top_k=top_k, **kwargs)

    def parse(self, text: str) -> tuple[float | None, str]:
        """``t:event`` → (hours of t, event); no colon → (None, the whole text)."""
        time, sep, event = text.partition(":")
        return (parse_hours(time), event.strip()) if sep else (None, text.strip())

    def baselines(self, datamodule, probes):
        return fit_and_predict(datamodule.frames["train"], probes, self.top_k)
