"""A causal LM trained to write a note window's ``event | hours`` lines (loss on the answer only), scored at test end
as an annotator: the test admissions are annotated through the annotation pipeline itself (``EventsTask`` windows,
prompt, batched greedy ``hf`` generation, window merging) and scored with the annotation evaluator (event P/R/F1,
hours MAE, sign and order agreement), beside an off-the-shelf annotator (``task.baseline``, SmolLM2-135M-Instruct
by default) on exactly the same admissions. At test end the tested weights (the best checkpoint) are exported as a
Hugging Face folder ``<run dir>/hf_model`` that ``annotate.py llm=hf llm.model=<run dir>/hf_model`` uses as is.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch

from cts.annotation.backends.hf import HFBackend
from cts.annotation.evaluate import overall_statistics, score_note, score_table
from cts.annotation.prompts import Prompt
from cts.annotation.tasks import EventsTask
from cts.bootstrap import ClusterBootstrap
from cts.io import atomic_dir
from cts.training.evaluation import TestEvaluation
from cts.training.module import TaskModule
from cts.utils import announce

log = logging.getLogger(__name__)
LOGGED = ("f1", "precision", "recall", "mae_hours")


def score_annotator(backend, prompt: Prompt, admissions: list, threshold: float, scorer: str) -> pd.DataFrame:
    """Annotate ``admissions`` (whole notes, windowed) with ``backend`` and score each against its reference:
    one row per admission (:func:`cts.annotation.evaluate.score_table`)."""
    records = EventsTask(prompt, backend).annotate([a.notes for a in admissions])
    scores = [score_note(str(a.hadm_id), [(e["event"], e["time"]) for e in record["events"]], a.reference,
                         threshold, scorer)[0] for a, record in zip(admissions, records)]
    return score_table(scores)


class ExtractModule(TaskModule):
    TIME_ENCODINGS = ("text",)

    def __init__(self, spec, tokenizer, admissions: dict[str, list], prompt, max_new_tokens: int,
                 max_prompt_tokens: int, window_overlap: float, generation_batch_size: int = 8,
                 structured: bool = True, baseline=None, threshold: float = 80.0, scorer: str = "token_sort_ratio",
                 export: bool = True,
                 time_encoding: str = "text", monitor: str = "val/loss", mode: str = "min"):
        super().__init__(spec, tokenizer, monitor, mode)
        self.lm = spec.build("causal_lm", tokenizer)
        self.admissions = {stage: list(items) for stage, items in admissions.items()}
        self.prompt, self.baseline = Prompt.from_config(prompt), baseline
        self.settings = {"max_new_tokens": int(max_new_tokens), "max_prompt_tokens": int(max_prompt_tokens),
                         "window_overlap": float(window_overlap), "batch_size": int(generation_batch_size),
                         "temperature": 0.0, "structured": bool(structured)}
        self.threshold, self.scorer, self.export = float(threshold), scorer, bool(export)
        self.scored: dict[str, pd.DataFrame] = {}

    def step(self, batch: dict, stage: str):
        labels = batch["labels"]
        out = self.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
        return out.loss, int(labels[:, 1:].ne(-100).sum())

    def backend(self) -> HFBackend:
        """The annotator on the weights being trained (eval mode while it generates)."""
        return HFBackend.from_loaded(self.lm, self.tokenizer, name=self.spec.name, **self.settings)

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        admissions = self.admissions.get(stage) or []
        if not admissions or self.trainer.sanity_checking:
            return {}
        was_training = self.lm.training
        self.lm.eval()
        start = time.perf_counter()
        table = score_annotator(self.backend(), self.prompt, admissions, self.threshold, self.scorer)
        self.lm.train(was_training)
        log.info("extract %s: annotated %d admissions in %.1f s", stage, len(admissions), time.perf_counter() - start)
        self.scored[stage] = table
        boot = ClusterBootstrap(np.array([a.hadm_id for a in admissions]), n_resamples=1)
        statistics = overall_statistics(table)
        return {name: float(statistics[name](boot)[0]) for name in LOGGED}

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The model's scores from the test epoch and the off-the-shelf annotator's on the same admissions."""
        if "test" not in self.scored:
            raise RuntimeError("test_evaluation needs a finished test epoch (trainer.test) that annotated admissions")
        admissions = self.admissions["test"]
        baselines = {}
        if self.baseline is not None:
            start = time.perf_counter()
            backend = hydra.utils.instantiate(self.baseline)
            name = f"{backend.name}:{Path(str(backend.model)).name}"
            table = score_annotator(backend, self.prompt, admissions, self.threshold, self.scorer)
            log.info("extract baseline %s: annotated %d admissions in %.1f s", name, len(admissions),
                     time.perf_counter() - start)
            baselines[name] = overall_statistics(table)
        return TestEvaluation(groups=np.array([a.hadm_id for a in admissions]),
                              model=overall_statistics(self.scored["test"]), baselines=baselines, headline="f1")

    def on_test_end(self) -> None:
        if self.export and self.trainer.is_global_zero:
            folder = export_hf_model(self.lm, self.tokenizer, Path(self.trainer.default_root_dir) / "hf_model")
            announce(f"extract: exported the tested weights as a Hugging Face folder {folder} "
                     f"(python annotate.py llm=hf llm.model={folder})")


def export_hf_model(lm, tokenizer, folder: Path) -> Path:
    """Weights (LoRA merged into a copy), tokenizer with its chat template and the generation config, atomically."""
    net = copy.deepcopy(lm)
    if hasattr(net, "merge_and_unload"):  # a peft model
        net = net.merge_and_unload()
    net.generation_config.eos_token_id = tokenizer.eos_token_id
    net.generation_config.pad_token_id = tokenizer.pad_token_id
    with atomic_dir(folder) as temp:
        net.save_pretrained(temp)
        tokenizer.save_pretrained(temp)
    return folder
