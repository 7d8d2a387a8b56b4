"""Language-model objectives on any family (causal LM for gpt/llama, masked LM for bert) with evaluation by
predicting held-out events ("probes": a prompt, the true event and its hours) at the end of val/test epochs."""

from __future__ import annotations

import math
import torch

from cts.models.generation import predict_spans
from cts.training.data import world_rank
from cts.training.metrics import EventPredictionMetrics
from cts.training.module import TaskModule

class SpanLMModule(TaskModule):
    """Trains ``input_ids`` with given ``labels`` (loss only where labels != -100) or, without labels, as a plain
    causal LM / 15 %-masked LM. Subclasses' ``parse`` turns a predicted span into (hours, event); ``metric_names`` renames
    the generic event metrics (top1, topk, token_f1, time_bucket_acc, hours_mae, time_parsed) per task."""

    TIME_ENCODINGS = ("text",)  # times are written in the text (raw hours or bucket tokens, chosen at build)
    metric_names: dict[str, str] = {}

    def __init__(self, spec, tokenizer, probes: dict[str, list[dict]], time_encoding: str = "text",
                 top_k: int = 5, max_new_tokens: int = 32, probe_batch_size: int = 16, mlm_probability: float = 0.15,
                 monitor: str = "val/loss", mode: str = "min"):
        super().__init__(spec, tokenizer, monitor, mode)
        self.kind = spec.objective
        self.lm = spec.build(self.kind, tokenizer)
        self.probes = probes
        self.top_k, self.max_new_tokens, self.probe_batch_size = int(top_k), int(max_new_tokens), int(probe_batch_size)
        self.mlm_probability = float(mlm_probability)
        self.events = torch.nn.ModuleDict({s: EventPredictionMetrics() for s in ("val", "test")})
        self._mask_generator = torch.Generator().manual_seed(0)
        specials = {tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.eos_token_id}
        self.register_buffer("special_ids", torch.tensor(sorted(i for i in specials if i is not None)),
                             persistent=False)

    def parse(self, text: str) -> tuple[float | None, str]:
        raise NotImplementedError

    def _mask(self, ids: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT's masking: 15 % of real tokens are predicted; of those 80 % [MASK], 10 % random, 10 % kept."""
        candidates = (attention == 1) & ~torch.isin(ids, self.special_ids)
        draw = torch.rand(ids.shape, generator=self._mask_generator).to(ids.device)
        chosen = candidates & (draw < self.mlm_probability)
        if not chosen.any():  # tiny batches: always predict at least one token
            chosen.view(-1)[int(candidates.view(-1).float().argmax())] = True
        labels = ids.masked_fill(~chosen, -100)
        how = torch.rand(ids.shape, generator=self._mask_generator).to(ids.device)
        ids = ids.masked_fill(chosen & (how < 0.8), self.tokenizer.mask_token_id)
        random_ids = torch.randint(len(self.tokenizer), ids.shape, generator=self._mask_generator).to(ids.device)
        ids = torch.where(chosen & (how >= 0.8) & (how < 0.9), random_ids, ids)
        return ids, labels

    def step(self, batch: dict, stage: str):
        ids, attention = batch["input_ids"], batch["attention_mask"]
        if "labels" in batch:
            labels = batch["labels"]
        elif self.kind == "causal_lm":
            labels = ids.masked_fill(attention == 0, -100)
        else:
            ids, labels = self._mask(ids, attention)
        out = self.lm(input_ids=ids, attention_mask=attention, labels=labels)
        return out.loss, int((labels[:, 1:] if self.kind == "causal_lm" else labels).ne(-100).sum())

    def on_validation_epoch_start(self):
        self._mask_generator.manual_seed(0)  # the same masks every evaluation: comparable, reproducible losses

    def on_test_epoch_start(self):
        self._mask_generator.manual_seed(0)

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        world, rank = world_rank()
        probes = self.probes.get(stage, [])[rank::world]
        metrics = self.events[stage]
        for start in range(0, len(probes), self.probe_batch_size):
            chunk = probes[start:start + self.probe_batch_size]
            spans = predict_spans(self.lm, self.tokenizer, self.kind, [p["prompt"] for p in chunk],
                                  [p["span"] for p in chunk], k=self.top_k, max_new_tokens=self.max_new_tokens)
            for probe, candidates in zip(chunk, spans):
                metrics.update([self.parse(text) for text in candidates], probe["hours"], probe["event"])
        values = metrics.compute()
        metrics.reset()
        renamed = {self.metric_names.get(name, name): value for name, value in values.items()}
        return {"perplexity": math.exp(min(float(loss), 50.0)), **renamed}
