"""Event-sequence language modelling: loss and perplexity, and for the next event of held-out admissions its
strict and tie-aware top-1/top-k accuracy over distinct events, bits per event, the accuracy of its time bucket and
the MAE of its hours — beside most-frequent, bigram and time baselines fitted on train."""

from __future__ import annotations

import re

import numpy as np

from cts.tasks.nextevent.baselines import fit_and_predict
from cts.training.lm import SpanLMModule
from cts.training.metrics import parse_hours
from cts.viz import figures

# Where the true next event lies, for accuracy by time (hours relative to admission).
TIME_GROUPS = ((-np.inf, -720, "< -1mo"), (-720, -24, "-1mo…-1d"), (-24, 0, "-1d…0"), (0, 1e-9, "at 0"),
               (1e-9, 24, "0…1d"), (24, 168, "1d…1w"), (168, np.inf, "> 1w"))
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

    def test_figures(self, datamodule, summary: dict) -> dict:
        """Top-1/top-k (strict and tie-aware) and time-bucket accuracy of the model and each baseline with 95%
        intervals; the model's tie-aware top-1 and time-bucket accuracy by when the true event happened."""
        names = [f"test/{self._name(m)}" for m in ("top1", "top1_tied", "topk", "topk_tied", "time_bucket_acc")]
        out = {"accuracy_test": figures.model_vs_baselines_figure(summary, f"next event, test: {self.spec.name}",
                                                                  names)}
        if self.test_columns:
            hours = self.test_columns["true_hours"]
            groups = {label: (hours >= low) & (hours < high) for low, high, label in TIME_GROUPS}
            groups = {label: mask for label, mask in groups.items() if mask.any()}
            rates = {name: [float(self.test_columns[column][mask].mean()) for mask in groups.values()]
                     for name, column in (("top-1 (tie-aware)", "top1_tied"), ("time bucket", "bucket_correct"))}
            out["accuracy_by_time_test"] = figures.grouped_rates_figure(
                [f"{label}\nN={int(mask.sum())}" for label, mask in groups.items()], rates,
                f"next event by true time, test: {self.spec.name} (N={len(hours):,})", "true event's hours")
        return {name: figure for name, figure in out.items() if figure is not None}
