"""Language-model objectives on any family (causal LM for gpt/llama, masked LM for bert) with evaluation by
predicting held-out events ("probes": a prompt, the true event, its hours and the events tied with it) at the end
of val/test epochs, and the test-end comparison with baselines fitted on the train split."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling

from cts.models.generation import _clean, predict_spans, rank_continuations, span_log_likelihood
from cts.training.data import world_rank
from cts.training.evaluation import TestEvaluation
from cts.training.metrics import (
    Candidate,
    event_statistics,
    likelihood_statistics,
    normalize_event,
    point_values,
    score_events,
)
from cts.training.module import TaskModule

log = logging.getLogger(__name__)
SCORING = ("rank", "generate")
UNKNOWN_LIMIT = 0.05  # above this share of test events in an unknown bucket, the summary says so
REPEAT_LIMIT = 0.01  # exclude_seen=auto: below this share of train targets repeating an event before them, exclude


def _log1m(log_mass: float) -> float:
    """log(1 − exp(log_mass)): the log-probability of everything outside a set whose log-mass is given (floored at
    1e-9, where the set holds all the mass up to rounding)."""
    return math.log(max(-math.expm1(min(log_mass, 0.0)), 1e-9))


class SpanLMModule(TaskModule):
    """Trains ``input_ids`` with given ``labels`` (loss only where labels != -100) or, without labels, as a plain
    causal LM / 15 %-masked LM. Subclasses' ``parse`` turns a predicted span into (hours, event), ``baselines``
    predicts the test probes from the train split, and ``metric_names`` renames the generic event metrics (top1,
    top1_tied, topk, topk_tied, token_f1, time_*, hours_mae*, bits_per_event, token_perplexity) per task."""

    TIME_ENCODINGS = ("text",)  # times are written in the text (raw hours or bucket tokens, chosen at build)
    metric_names: dict[str, str] = {}
    headline = "top1_tied"  # the generic metric best_baseline compares on

    def __init__(self, spec, tokenizer, probes: dict[str, list[dict]], time_encoding: str = "text",
                 top_k: int = 5, beams: int | None = None, max_new_tokens: int = 32, probe_batch_size: int = 16,
                 mlm_probability: float = 0.15, monitor: str = "val/loss", mode: str = "min",
                 scoring: str = "generate", exclude_seen: bool | str = False, train_repeat_share: float | None = None):
        super().__init__(spec, tokenizer, monitor, mode)
        if scoring not in SCORING:
            raise ValueError(f"task.module.scoring must be one of {SCORING}, got {scoring!r}")
        if exclude_seen == "auto":  # a property of the train split (the datamodule's), never of val or test
            exclude_seen = train_repeat_share is not None and train_repeat_share < REPEAT_LIMIT
            log.info("task.module.exclude_seen=auto → %s (%s of train targets repeat an event before them)",
                     exclude_seen, "n/a" if train_repeat_share is None else f"{train_repeat_share:.2%}")
        if not isinstance(exclude_seen, bool):
            raise ValueError(f"task.module.exclude_seen must be true, false or auto, got {exclude_seen!r}")
        # candidates naming an event of the probe's history (its ``seen``) are dropped: for data whose admissions
        # never repeat an event, the same rule the ``*_unseen`` baselines use
        self.exclude_seen = exclude_seen
        # rank: a causal LM scores every event of the candidate set (rank_set) after its greedy time; generate: beams
        self.scoring = scoring if spec.objective == "causal_lm" else "generate"
        self.kind = spec.objective
        self.lm = spec.build(self.kind, tokenizer)
        self.probes = probes
        self.top_k, self.max_new_tokens, self.probe_batch_size = int(top_k), int(max_new_tokens), int(probe_batch_size)
        # top-k counts distinct events: more beams than k, since beams often repeat an event with another time; at
        # least 10 when seen events are excluded, since the best beams often name them (with 3 beams for top-1, 12 %
        # of the demo's forecast windows were left with no unseen candidate at all)
        self.beams = int(beams) if beams else (1 if self.top_k == 1 and not exclude_seen else
                                               max(3 * self.top_k, 10) if exclude_seen else 3 * self.top_k)
        if self.beams < self.top_k:
            raise ValueError(f"task.module.beams={beams} must be at least top_k={top_k}")
        # transformers' BERT masking (15 %; of those 80 % [MASK], 10 % random, 10 % kept), with our own generators:
        # one for training, one reseeded at every evaluation so val/test losses use the same masks each time.
        self.masker = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=float(mlm_probability),
                                                      return_tensors="pt") if self.kind == "masked_lm" else None
        self._generators = {"train": torch.Generator().manual_seed(0), "eval": torch.Generator().manual_seed(0)}
        specials = {tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.eos_token_id}
        self.register_buffer("special_ids", torch.tensor(sorted(i for i in specials if i is not None)),
                             persistent=False)
        self.scored: dict[str, dict] = {}  # stage → bootstrap statistics of the last epoch's probes
        self._note_long_targets()
        self.test_columns: dict[str, np.ndarray] = {}  # per-probe scores of the last test epoch (figures)

    def _note_long_targets(self) -> None:
        """Say when some true answers are longer than a causal model may generate (``max_new_tokens``): those can
        never be predicted whole (long event texts of real timelines); their likelihood is still scored."""
        if self.kind != "causal_lm":  # a masked LM fills a slot of the true length
            return
        for stage, probes in self.probes.items():
            long = sum(len(p["target"]) > self.max_new_tokens for p in probes)
            if long:
                log.warning("%s: %d of %d true answers are longer than task.module.max_new_tokens=%d tokens (the "
                            "longest %d): they cannot be generated whole; raise max_new_tokens to score them", stage,
                            long, len(probes), self.max_new_tokens, max(len(p["target"]) for p in probes))

    def parse(self, text: str) -> tuple[float | None, str]:
        raise NotImplementedError

    def baselines(self, datamodule, probes: list[dict]) -> dict[str, tuple[list[list[Candidate]], tuple]]:
        """Baseline name → (its candidates for each probe, the generic metrics it predicts)."""
        raise NotImplementedError

    def _mask(self, ids: torch.Tensor, attention: torch.Tensor, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        keep = (attention == 0) | torch.isin(ids, self.special_ids)
        self.masker.generator = self._generators["train" if stage == "train" else "eval"]
        masked, labels = self.masker.torch_mask_tokens(ids.cpu().clone(), special_tokens_mask=keep.cpu())
        if (labels == -100).all():  # tiny batches: always predict at least one token (shown unmasked)
            first = int((~keep).view(-1).float().argmax())
            labels.view(-1)[first] = ids.view(-1)[first]
        return masked.to(ids.device), labels.to(ids.device)

    def step(self, batch: dict, stage: str):
        ids, attention = batch["input_ids"], batch["attention_mask"]
        if "labels" in batch:
            labels = batch["labels"]
        elif self.kind == "causal_lm":
            # not DataCollatorForLanguageModeling(mlm=False): it drops labels equal to the pad id, and GPT-2/Llama
            # tokenizers pad with eos, so the end of an admission would never be learned; the attention mask is exact
            labels = ids.masked_fill(attention == 0, -100)
        else:
            ids, labels = self._mask(ids, attention, stage)
        out = self.lm(input_ids=ids, attention_mask=attention, labels=labels)
        return out.loss, int((labels[:, 1:] if self.kind == "causal_lm" else labels).ne(-100).sum())

    def on_validation_epoch_start(self):
        self._generators["eval"].manual_seed(0)

    def on_test_epoch_start(self):
        self._generators["eval"].manual_seed(0)

    def rank_set(self) -> tuple[int, list[str], list[list[int]], list[int]] | None:
        """For ``scoring=rank``: (the token that ends the generated head, the candidate answers, their token ids
        after it, the tokens that may follow a whole answer); None: this task cannot rank (beams are used)."""
        return None

    def _predict(self, probes: list[dict]) -> list[tuple[list[Candidate], float, float]]:
        """Parsed candidates (best first), the true span's log-likelihood and (``scoring=rank``; else NaN) the true
        event's log-probability after the greedy time, for each probe. Batches are taken in prompt-length order (every
        position of an admission gives prompts of every length: little padding)."""
        out: list = [None] * len(probes)
        ranking = self.rank_set() if self.scoring == "rank" else None
        order = sorted(range(len(probes)), key=lambda i: (len(probes[i]["prompt"]), i))
        for start in range(0, len(order), self.probe_batch_size):
            rows = order[start:start + self.probe_batch_size]
            chunk = [probes[i] for i in rows]
            prompts = [p["prompt"] for p in chunk]
            if ranking is None:
                spans = predict_spans(self.lm, self.tokenizer, self.kind, prompts, [len(p["target"]) for p in chunk],
                                      k=self.beams, max_new_tokens=self.max_new_tokens)
                candidates = [[self.parse(text) for text in texts] for texts in spans]
                if self.exclude_seen:
                    seen = [self._seen(p) for p in chunk]  # once per probe, not per candidate
                    candidates = [[c for c in found if normalize_event(c[1]) not in history]
                                  for found, history in zip(candidates, seen)]
                event_logp = [math.nan] * len(chunk)
            else:
                candidates, event_logp = zip(*(self._ranked(p, *ranking) for p in chunk))
            likelihoods = span_log_likelihood(self.lm, self.tokenizer, self.kind, prompts,
                                              [p["target"] for p in chunk])
            for i, predicted, ll, event in zip(rows, candidates, likelihoods, event_logp):
                out[i] = (predicted, ll, event)
        return out

    @staticmethod
    def _seen(probe: dict) -> set[str]:
        """The normalized events of a probe's history (empty where the task gives none)."""
        return {normalize_event(e) for e in probe.get("seen", ())}

    def _ranked(self, probe: dict, stop, answers, answer_ids, ends) -> tuple[list[Candidate], float]:
        """The top-k answers of the candidate set by the model's probability after its greedy head (the time), each
        with the head's parsed hours, answers already seen skipped when ``exclude_seen``; and the true event's natural
        log-probability there, over the candidate events and one bucket for every other string (the head is the
        model's own guess; a function of the history alone), renormalized without the seen candidates when they are
        excluded. A true event outside the candidates is scored as that bucket, 1 − the candidates' mass: what the
        n-grams' event bits give an event outside the same candidates (``kneser_ney_baselines(vocabulary=...)``), so
        the two compare on the same outcomes wherever the candidates are fewer than the train events."""
        seen = self._seen(probe) if self.exclude_seen else set()
        index = self._answer_index(answers)
        true = index.get(normalize_event(probe["event"]))
        head, scores = rank_continuations(self.lm, probe["prompt"], stop, answer_ids, ends,
                                          max_head_tokens=self.max_new_tokens)
        hours = self.parse(_clean(self.tokenizer, head) + " x")[0]
        best = []
        for j in sorted(range(len(answers)), key=lambda j: (-float(scores[j]), j)):
            if normalize_event(answers[j]) not in seen:
                best.append(j)
                if len(best) == self.top_k:
                    break
        logp = float(scores[true]) if true is not None else _log1m(float(torch.logsumexp(scores, 0)))
        dropped = [index[form] for form in seen if form in index and index[form] != true]
        if dropped and normalize_event(probe["event"]) not in seen:  # a repeated true event keeps its raw score
            logp -= _log1m(float(torch.logsumexp(scores[dropped], 0)))
        return [(hours, answers[j]) for j in best], logp

    def _answer_index(self, answers: list[str]) -> dict[str, int]:
        """Normalized form → index of the candidate answers (built once per candidate set)."""
        if getattr(self, "_answer_forms", (None,))[0] is not answers:
            self._answer_forms = (answers, {normalize_event(a): j for j, a in enumerate(answers)})
        return self._answer_forms[1]

    def _name(self, generic: str) -> str:
        return self.metric_names.get(generic, generic)

    def _renamed(self, statistics: dict) -> dict:
        return {self._name(name): statistic for name, statistic in statistics.items()}

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict:
        metrics = {"perplexity": math.exp(min(float(loss), 50.0))}
        probes = self.probes.get(stage, [])
        if not probes:
            return metrics
        world, rank = world_rank()
        mine = list(range(rank, len(probes), world))
        predicted = dict(zip(mine, self._predict([probes[i] for i in mine])))
        if world > 1:  # every rank scores every probe, so all ranks log (and keep) the same numbers
            shards = [None] * world
            torch.distributed.all_gather_object(shards, predicted)
            predicted = {i: value for shard in shards for i, value in shard.items()}
        candidates, likelihood, event_logp = zip(*(predicted[i] for i in range(len(probes))))
        columns = score_events(list(candidates), probes, self.top_k)
        if stage == "test":
            self.test_columns = {**columns, "true_hours": np.array([p["hours"] for p in probes], dtype=float)}
        statistics = {**event_statistics(columns),
                      **likelihood_statistics(np.array(likelihood), np.array([len(p["target"]) for p in probes]))}
        if np.isfinite(event_logp).all():  # scoring=rank: the event's own bits, comparable with the n-grams'
            statistics["event_bits"] = likelihood_statistics(np.array(event_logp), np.ones(len(probes)))[
                "bits_per_event"]
        self.scored[stage] = self._renamed(statistics)
        return {**metrics, **point_values(self.scored[stage], [p["group"] for p in probes])}

    def unknown_warnings(self, known: Iterable[str], probes: list[dict], known_as: str) -> list[str]:
        """Test events a predictor cannot name: outside ``known`` (the train events the counting baselines know,
        compared as ``normalize_event``) or holding the tokenizer's unknown token; more than ``UNKNOWN_LIMIT`` of
        them is a warning in the summary."""
        events = [p["event"] for p in probes]
        known = {normalize_event(str(e)) for e in known}
        shares = {known_as: float(np.mean([normalize_event(e) not in known for e in events])) if events else 0.0}
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if unk is not None and unk not in {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}:
            shares[f"the model tokenizer's {self.tokenizer.unk_token}"] = float(np.mean(
                [unk in p["target"] for p in probes])) if probes else 0.0
        out = []
        for what, share in shares.items():
            if share > UNKNOWN_LIMIT:
                out.append(f"{share:.1%} of the {len(events):,} test events fall outside {what} (over "
                           f"{UNKNOWN_LIMIT:.0%}): predictors cannot name them, so scores there say little")
                log.warning("%s", out[-1])
        return out

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """The model's statistics from the last test epoch and every baseline's on exactly the same probes."""
        if "test" not in self.scored:
            raise RuntimeError("test_evaluation needs a finished test epoch (trainer.test) that scored probes")
        probes = self.probes["test"]
        baselines = {name: self._renamed(event_statistics(score_events(predictions, probes, self.top_k), names))
                     for name, (predictions, names) in self.baselines(datamodule, probes).items()}
        return TestEvaluation(groups=np.array([p["group"] for p in probes]), model=self.scored["test"],
                              baselines=baselines, headline=self._name(self.headline), higher_is_better=True)
