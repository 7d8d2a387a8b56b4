"""task=nextevent's module: ``task.module.scoring=rank`` (every train event scored after the model's greedy time,
one prompt encoding per probe) checked against scoring each candidate line from scratch, on the tiny preset; the
test-end summary with the ceiling, Kneser–Ney and the share of the gap closed, on the demo."""

import math

import lightning as L
import pytest
import torch

from cts.models.generation import rank_continuations
from cts.tasks.nextevent.module import NextEventModule
from cts.training.metrics import normalize_event
from tests.training.helpers import built, compose_train, tiny


def ranked_module(train_data, tmp_path, *extra, family="gpt"):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, family, "task.eval_limit=3", *extra), tmp_path)
    datamodule, module = built(cfg)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_test_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule)
    return datamodule, module


@pytest.mark.parametrize("family", ["gpt", "llama"])  # learned and rotary positions
def test_rank_scores_equal_each_candidate_line_scored_from_scratch(family, train_data, tmp_path):
    datamodule, module = ranked_module(train_data, tmp_path, family=family)
    assert module.scoring == "rank"  # the nextevent default for causal LMs
    stop, answers, answer_ids, ends = module.rank_set()
    train_events = {normalize_event(e) for s in datamodule.frames["train"]["events"] for e in s}
    assert sorted(map(normalize_event, answers)) == sorted(train_events)  # every train event, once
    module.lm.eval()
    prompt = module.probes["test"][5]["prompt"]
    head, scores = rank_continuations(module.lm, prompt, stop, answer_ids[:7], ends, chunk=3)
    assert head[-1] == stop
    for j in range(7):
        # log P(candidate tokens, then a newline or end-of-text | prompt + head) by one plain forward each
        ids = torch.tensor([prompt + head + answer_ids[j]])
        with torch.no_grad():
            logp = module.lm(input_ids=ids).logits[0].float().log_softmax(-1)
        start = len(prompt) + len(head)
        tokens = sum(float(logp[start - 1 + i, t]) for i, t in enumerate(answer_ids[j]))
        end = float(torch.logsumexp(logp[-1, ends], 0))
        assert float(scores[j]) == pytest.approx(tokens + end, abs=1e-4)


def test_rank_predictions_are_the_top_k_train_events_and_generate_stays_an_option(train_data, tmp_path):
    _, module = ranked_module(train_data, tmp_path, "task.module.exclude_seen=false")
    stop, answers, answer_ids, ends = module.rank_set()
    module.lm.eval()  # as in a test epoch: no dropout
    probe = module.probes["test"][0]
    predicted, _ = module._ranked(probe, stop, answers, answer_ids, ends)
    _, scores = rank_continuations(module.lm, probe["prompt"], stop, answer_ids, ends,
                                   max_head_tokens=module.max_new_tokens)
    best = sorted(range(len(answers)), key=lambda j: -float(scores[j]))[:module.top_k]
    assert [e for _, e in predicted] == [answers[j] for j in best]
    assert len({h for h, _ in predicted}) == 1  # one greedy time for every candidate
    _, generating = ranked_module(train_data, tmp_path / "g", "task.module.scoring=generate")
    assert generating.scoring == "generate" and "test" in generating.scored
    with pytest.raises(Exception, match="scoring must be one of"):  # hydra wraps the ValueError
        ranked_module(train_data, tmp_path / "x", "task.module.scoring=sample")


def test_exclude_seen_skips_the_history_s_events_and_auto_follows_the_train_split(train_data, tmp_path):
    datamodule, module = ranked_module(train_data, tmp_path)
    # the demo never repeats an event within an admission, so auto (the default) excludes
    repeats = [len(s) - len({normalize_event(e) for e in s}) for s in datamodule.frames["train"]["events"]]
    assert sum(repeats) == 0 and module.exclude_seen is True
    stop, answers, answer_ids, ends = module.rank_set()
    module.lm.eval()
    probe = max(module.probes["test"], key=lambda p: len(p["seen"]))  # the longest history
    seen = {normalize_event(e) for e in probe["seen"]}
    _, scores = rank_continuations(module.lm, probe["prompt"], stop, answer_ids, ends,
                                   max_head_tokens=module.max_new_tokens)
    order = sorted(range(len(answers)), key=lambda j: -float(scores[j]))
    unseen = [answers[j] for j in order if normalize_event(answers[j]) not in seen][:module.top_k]
    assert [e for _, e in module._ranked(probe, stop, answers, answer_ids, ends)[0]] == unseen
    module.exclude_seen = False
    everything = [e for _, e in module._ranked(probe, stop, answers, answer_ids, ends)[0]]
    module.exclude_seen = True
    assert everything == [answers[j] for j in order[:module.top_k]]
    assert not seen & {normalize_event(e) for _, e in module._predict([probe])[0][0]}  # as a test epoch ranks
    for value, share, expected in (("auto", 0.2, False), ("auto", 0.009, True), ("auto", None, False),
                                   (False, 0.0, False), (True, 0.5, True)):
        other = NextEventModule(module.spec, module.tokenizer, {"val": [], "test": []}, exclude_seen=value,
                                train_repeat_share=share)
        assert other.exclude_seen is expected, (value, share)
    _, plain = ranked_module(train_data, tmp_path / "off", "task.module.exclude_seen=false")
    assert plain.exclude_seen is False
    with pytest.raises(Exception, match="exclude_seen must be true, false or auto"):
        ranked_module(train_data, tmp_path / "x", "task.module.exclude_seen=sometimes")


def test_rank_candidates_keeps_the_most_frequent_train_events(train_data, tmp_path):
    datamodule, module = ranked_module(train_data, tmp_path, "task.module.rank_candidates=4")
    counts = {}
    for sequence in datamodule.frames["train"]["events"]:
        for event in sequence:
            counts[normalize_event(event)] = counts.get(normalize_event(event), 0) + 1
    by_count = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    assert by_count[3][1] > by_count[4][1]  # the fixture has no tie at the cut, so the set is unambiguous
    _, answers, _, _ = module.rank_set()
    assert sorted(map(normalize_event, answers)) == sorted(form for form, _ in by_count[:4])
    with pytest.raises(Exception, match="rank_candidates must be a positive count"):
        ranked_module(train_data, tmp_path / "x", "task.module.rank_candidates=0")


def test_nextevent_summary_has_the_ceiling_kneser_ney_and_the_gap_on_the_demo(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, "gpt", "task.eval_limit=6"), tmp_path)
    datamodule, module = built(cfg)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_test_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule)
    summary = module.test_evaluation(datamodule).summarize(n_resamples=100)
    assert {"kneser_ney", "kneser_ney_unseen"} <= set(summary["baselines"])
    assert summary["baselines"]["kneser_ney"]["test/event_bits"] > 0
    assert {"test/top1_tied", "test/top5", "test/bits_per_event", "test/event_bits"} <= set(summary["ceiling"])
    assert summary["gap_closed"]["baseline"] == summary["best_baseline"]["name"]
    # the headline: top-5 over distinct events, tie-aware
    assert summary["gap_closed"]["metric_name"] == summary["best_baseline"]["metric_name"] == "test/top5_tied"
    assert len(summary["ceiling"]) - 1 == len(summary["ceiling"]["ci95"])


def test_event_bits_are_the_true_event_s_probability_given_the_history_renormalized_without_seen_events(
        train_data, tmp_path):
    """The model's event bits measure what the n-grams' do: −log2 P(true event | history), the greedy time being the
    model's own guess, seen candidates' mass removed when they are excluded; an event outside the candidate set is
    scored as the bucket of every other string, as the n-grams score it, not dropped."""
    datamodule, module = ranked_module(train_data, tmp_path)
    stop, answers, answer_ids, ends = module.rank_set()
    module.lm.eval()
    probe = max(module.probes["test"], key=lambda p: len(p["seen"]))
    seen = {normalize_event(e) for e in probe["seen"]}
    _, scores = rank_continuations(module.lm, probe["prompt"], stop, answer_ids, ends,
                                   max_head_tokens=module.max_new_tokens)
    true = [normalize_event(a) for a in answers].index(normalize_event(probe["event"]))
    seen_mass = float(torch.exp(torch.logsumexp(scores[[j for j, a in enumerate(answers)
                                                         if normalize_event(a) in seen]], 0)))
    assert 0 < seen_mass < 1
    _, logp = module._ranked(probe, stop, answers, answer_ids, ends)
    assert logp == pytest.approx(float(scores[true]) - math.log(1 - seen_mass), abs=1e-4)
    module.exclude_seen = False
    assert module._ranked(probe, stop, answers, answer_ids, ends)[1] == pytest.approx(float(scores[true]), abs=1e-4)
    novel = {**probe, "event": "entirely novel finding"}  # outside the candidates: the bucket, 1 − their mass
    outside = math.log(-math.expm1(float(torch.logsumexp(scores, 0))))
    assert module._ranked(novel, stop, answers, answer_ids, ends)[1] == pytest.approx(outside, abs=1e-4)
    module.exclude_seen = True
    # the test epoch logged it, and the summary compares it with the n-grams' event bits (fewer is better)
    assert "event_bits" in module.scored["test"]
    summary = module.test_evaluation(datamodule).summarize(n_resamples=20)
    compared = {block["metric_name"]: block for block in summary["also_compared"]}
    best = compared["test/event_bits"]
    baseline_bits = {name: values["test/event_bits"] for name, values in summary["baselines"].items()
                     if "test/event_bits" in values}
    assert best["name"] == min(baseline_bits, key=baseline_bits.get)
    assert best["delta"] == pytest.approx(summary["metrics"]["test/event_bits"] - min(baseline_bits.values()))
    # the n-grams' event bits are over the model's candidates: fewer candidates, a larger bucket, fewer bits
    module.rank_candidates, module._rank_set = 3, None
    fewer = module.test_evaluation(datamodule).summarize(n_resamples=20)["baselines"]
    assert fewer["kneser_ney_unseen"]["test/event_bits"] < baseline_bits["kneser_ney_unseen"]
