"""Forecast the hypothesis event of a window: loss on the hypothesis only; generated ``t:event`` scored by strict
and tie-aware event match, token F1, |Δhours| MAE with the share of parsed times (history and stay apart), bits per
event — beside most-frequent, bigram and observed-time baselines fitted on train."""

from __future__ import annotations

import json
from pathlib import Path

from cts.data.demo import demo_of_task_dir
from cts.data.event_table import read_event_table
from cts.tasks.forecast.baselines import fit_and_predict
from cts.tasks.nextevent.build import build_sequences
from cts.tasks.nextevent.ceiling import ceiling_columns, demo_ceiling
from cts.training.evaluation import TestEvaluation
from cts.training.lm import SpanLMModule
from cts.training.metrics import EVENT_METRICS, event_statistics, parse_hours
from cts.viz import figures


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

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The model and baselines on the same windows, compared on the hypothesis's hours too (``hours_mae``: over
        the windows whose time parsed, each predictor's own), with a warning when many test hypotheses are
        unnameable."""
        evaluation = super().test_evaluation(datamodule)
        evaluation.also = {"hours_mae": False}
        evaluation.ceiling = self._demo_bound(datamodule)
        evaluation.warnings = self.unknown_warnings(datamodule.frames["train"]["hypothesis_event"],
                                                    self.probes["test"], "the train hypotheses (the bigrams' events)")
        return evaluation

    def _demo_bound(self, datamodule) -> dict:
        """On the demo, the ceiling of nextevent at each window's hypothesis: the generator's Bayes predictor given
        the whole admission before it — more than the window's 10 events, so an upper bound on any forecaster."""
        meta_path = Path(datamodule.data_dir) / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        demo = demo_of_task_dir(datamodule.data_dir)
        if demo is None or meta.get("params", {}).get("target", "next") != "next":  # fill-in windows: no such bound
            return {}
        sequences = build_sequences(read_event_table(meta.get("source") or demo / "events_normalized.parquet"))
        probes = self.probes["test"]
        columns, _, _ = ceiling_columns(demo_ceiling(), sequences, probes, self.top_k)
        return self._renamed(event_statistics(columns, EVENT_METRICS))

    def test_figures(self, datamodule, summary: dict) -> dict:
        """|predicted − true| hours of the parsed top-1 times, history (true time < 0) and stay apart; event match
        and time metrics of the model and each baseline with 95% intervals."""
        names = [f"test/{self._name(m)}" for m in ("top1", "top1_tied", "time_parsed", "time_bucket_acc")]
        out = {"accuracy_test": figures.model_vs_baselines_figure(summary, f"forecast, test: {self.spec.name}", names)}
        if self.test_columns:
            parsed, history = self.test_columns["parsed"] > 0, self.test_columns["history"] > 0
            error = self.test_columns["abs_error"]
            out["hours_error_test"] = figures.error_histogram_figure(
                {"history (true < 0 h)": error[parsed & history], "stay (true >= 0 h)": error[parsed & ~history]},
                f"forecast time error, test: {self.spec.name} ({int(parsed.sum())} of {len(parsed)} times parsed)")
        return {name: figure for name, figure in out.items() if figure is not None}
