"""Event-sequence language modelling: loss and perplexity, and for the next event of held-out admissions its
strict and tie-aware top-1/top-k accuracy over distinct events, bits per event, the accuracy of its time bucket and
the MAE of its hours — beside most-frequent, bigram, Kneser–Ney and time baselines fitted on train, and on the demo
the ceiling: the Bayes predictor of the generator that wrote the data (``ceiling.py``)."""

from __future__ import annotations

import logging
import re
from collections import Counter

import numpy as np

from cts.data.demo import demo_of_task_dir
from cts.tasks.nextevent.baselines import fit_and_predict, kneser_ney_baselines
from cts.tasks.nextevent.ceiling import ceiling_columns, demo_ceiling
from cts.training.evaluation import TestEvaluation
from cts.training.lm import SpanLMModule
from cts.training.metrics import (
    EVENT_METRICS,
    event_statistics,
    likelihood_statistics,
    normalize_event,
    parse_hours,
    score_events,
)
from cts.viz import figures

# Where the true next event lies, for accuracy by time (hours relative to admission).
TIME_GROUPS = ((-np.inf, -720, "< -1mo"), (-720, -24, "-1mo…-1d"), (-24, 0, "-1d…0"), (0, 1e-9, "at 0"),
               (1e-9, 24, "0…1d"), (24, 168, "1d…1w"), (168, np.inf, "> 1w"))
_LINE = re.compile(r"^\s*\[TIME\]\s*(.*?)\s*\[EVENT\]\s*(.*?)\s*$", re.IGNORECASE)
log = logging.getLogger(__name__)


def _bits(bits: np.ndarray):
    """The bootstrap statistic of the mean of per-row bits."""
    return likelihood_statistics(-np.asarray(bits, float) * np.log(2), np.ones(len(bits)))["bits_per_event"]


class NextEventModule(SpanLMModule):
    headline = "topk_tied"  # top-5 over distinct events, tie-aware: what best_baseline and gap_closed compare on

    def __init__(self, *args, ceiling: dict | None = None, rank_candidates: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if rank_candidates is not None and int(rank_candidates) < 1:
            raise ValueError(f"task.module.rank_candidates must be a positive count or null, got {rank_candidates!r}")
        self.rank_candidates = None if rank_candidates is None else int(rank_candidates)
        self.metric_names = {"topk": f"top{self.top_k}", "topk_tied": f"top{self.top_k}_tied"}
        self.ceiling_settings = dict(ceiling or {})

    def parse(self, text: str) -> tuple[float | None, str]:
        """``[TIME] t [EVENT] e`` → (hours of t, e); anything else → (None, the whole text)."""
        match = _LINE.match(text)
        return (parse_hours(match.group(1)), match.group(2)) if match else (None, text)

    def rank_set(self):
        """``scoring=rank``: every distinct event of the train split (the first spelling of each normalized form), or
        its ``rank_candidates`` most frequent ones (real timelines hold ~10⁵ free-text events: each is scored at every
        position), as the tokens after ``[EVENT]`` in its line; a newline or end-of-text ends an event. A true event
        outside this set can never be ranked: a miss."""
        if getattr(self, "_rank_set", None) is None:
            datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
            if datamodule is None or "train" not in getattr(datamodule, "frames", {}):
                return None
            events, counts = {}, Counter()
            for sequence in datamodule.frames["train"]["events"]:
                for event in map(str, sequence):
                    form = normalize_event(event)
                    events.setdefault(form, event)
                    counts[form] += 1
            kept = sorted(counts, key=lambda form: (-counts[form], form))[:self.rank_candidates]
            answers = sorted(events[form] for form in kept)
            stop = self.tokenizer.convert_tokens_to_ids("[EVENT]")
            ids = self.tokenizer([f"[TIME] 0 [EVENT] {e}" for e in answers], add_special_tokens=False)["input_ids"]
            answer_ids = [line[line.index(stop) + 1:] for line in ids]
            newline = self.tokenizer("\n", add_special_tokens=False)["input_ids"]
            ends = sorted({self.tokenizer.eos_token_id, *(newline if len(newline) == 1 else [])} - {None})
            keep = [i for i, a in enumerate(answer_ids) if a]
            self._rank_set = (stop, [answers[i] for i in keep], [answer_ids[i] for i in keep], ends)
            log.info("nextevent scoring=rank: %d candidate events (%s), ends %s", len(keep),
                     "every train event" if len(kept) == len(counts) else f"the {len(kept)} most frequent of "
                     f"{len(counts)} train events", ends)
        return self._rank_set

    def baselines(self, datamodule, probes):
        return fit_and_predict(datamodule.frames["train"], probes, self.top_k)

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The baselines', plus Kneser–Ney n-grams (order chosen on val bits) with their event bits, the demo's
        ceiling (when the data is the demo and ``task.module.ceiling.enabled``) and unknown-bucket warnings."""
        evaluation = super().test_evaluation(datamodule)
        probes, frames = self.probes["test"], datamodule.frames
        ranking = self.rank_set() if self.scoring == "rank" else None  # the model's event bits are over its candidates
        for name, (predictions, bits) in kneser_ney_baselines(frames["train"], frames["val"], probes, self.top_k,
                                                              vocabulary=ranking[1] if ranking else None).items():
            columns = score_events(predictions, probes, self.top_k)
            statistics = {**event_statistics(columns, EVENT_METRICS), "event_bits": _bits(bits)}
            evaluation.baselines[name] = self._renamed(statistics)
        evaluation.warnings = self.unknown_warnings(
            (e for sequence in frames["train"]["events"] for e in sequence), probes,
            "the train events (the n-gram baselines' unknown bucket)")
        evaluation.also = {"event_bits": False}  # the model's (scoring=rank) against the n-grams', fewer is better
        if self.ceiling_settings.get("enabled", True) and demo_of_task_dir(datamodule.data_dir) is not None:
            columns, line_bits, event_bits = ceiling_columns(demo_ceiling(), frames["test"], probes, self.top_k)
            evaluation.ceiling = self._renamed({**event_statistics(columns, EVENT_METRICS),
                                                "bits_per_event": _bits(line_bits), "event_bits": _bits(event_bits)})
        return evaluation

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
