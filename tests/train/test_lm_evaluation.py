"""Next-event and forecast evaluation: tie-aware and distinct top-k scoring, bits per event, the baselines on
hand-made fixtures with known answers, and the test-end contract after a real (tiny) trainer.test."""

import math

import hydra
import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from train_helpers import FAMILIES, compose_train, tiny

from cts.bootstrap import ClusterBootstrap
from cts.tasks.forecast.baselines import fit_and_predict as forecast_baselines
from cts.tasks.nextevent.baselines import fit_and_predict as nextevent_baselines
from cts.training.groups import instantiate_datamodule
from cts.training.metrics import (
    bucket_hours,
    event_statistics,
    likelihood_statistics,
    score_events,
)


def truth(event, hours=0.0, ties=()):
    return {"event": event, "hours": hours, "ties": list(ties)}


def values(statistics, n_rows):
    boot = ClusterBootstrap(np.arange(n_rows), n_resamples=1)
    return {name: float(statistic(boot)[0]) for name, statistic in statistics.items()}


def test_tie_aware_accuracy_counts_any_unseen_event_at_the_true_time():
    truths = [truth("fever", ties=["fever", "cough"]), truth("fever", ties=["fever", "cough"]), truth("rash")]
    predictions = [[(0.0, "Cough")], [(0.0, "fever")], [(0.0, "cough")]]
    columns = score_events(predictions, truths, k=1)
    assert columns["top1"].tolist() == [0, 1, 0]          # strict: only the listed next event
    assert columns["top1_tied"].tolist() == [1, 1, 0]     # tied: cough shares fever's time; rash has no tie


def test_top_k_is_over_distinct_events_not_beams():
    beams = [(1.0, "a"), (2.0, "a"), (3.0, "A "), (1.0, "b"), (1.0, "c"), (1.0, "d"), (1.0, "e"), (1.0, "f")]
    # 5 beams hold only a and b; the 5 distinct events are a..e, so f (6th distinct) is out and e is in
    columns = score_events([beams, beams], [truth("e"), truth("f")], k=5)
    assert columns["topk"].tolist() == [1, 0]
    assert columns["top1"].tolist() == [0, 0]


def test_hours_mae_covers_parsed_rows_split_into_history_and_stay():
    truths = [truth("x", hours=-10.0), truth("x", hours=4.0), truth("x", hours=2.0)]
    predictions = [[(-4.0, "x")], [(5.0, "x")], [(None, "x")]]
    got = values(event_statistics(score_events(predictions, truths, k=1)), 3)
    assert got["time_parsed"] == pytest.approx(2 / 3)
    assert got["hours_mae"] == pytest.approx((6 + 1) / 2)
    assert got["hours_mae_history"] == pytest.approx(6.0) and got["hours_mae_stay"] == pytest.approx(1.0)


def test_bits_per_event_and_token_perplexity():
    log_likelihood = np.array([-math.log(2) * 3, -math.log(2) * 5])  # 3 and 5 bits, over 2 and 6 tokens
    got = values(likelihood_statistics(log_likelihood, np.array([2, 6])), 2)
    assert got["bits_per_event"] == pytest.approx(4.0)
    assert got["token_perplexity"] == pytest.approx(2 ** (8 / 8))


def nextevent_train():
    # followers: a→b twice, a→c once; b→c twice; c→a once. Next events overall: b 2, c 3, a 1.
    return pd.DataFrame({"events": [["a", "b", "c"], ["a", "b", "c"], ["a", "c", "a"]],
                         "times": [[0.0, 2.0, 30.0], [0.0, 2.0, 30.0], [-5.0, 0.5, 2.0]]})


def test_nextevent_baselines_on_a_hand_made_fixture():
    probes = [{"event": "c", "hours": 40.0, "ties": ["c"], "previous_event": "a", "previous_hours": 2.5,
               "seen": ["a", "b"]},
              {"event": "z", "hours": -1.0, "ties": ["z"], "previous_event": "unknown", "previous_hours": -2.0,
               "seen": ["unknown"]}]
    got = nextevent_baselines(nextevent_train(), probes, k=2)
    events = {name: [[e for _, e in c] for c in got[name][0]] for name in ("most_frequent", "bigram", "bigram_unseen")}
    assert events["most_frequent"] == [["c", "b"], ["c", "b"]]
    assert events["bigram"] == [["b", "c"], ["c", "b"]]         # a's followers; unknown → most frequent
    assert events["bigram_unseen"] == [["c"], ["c", "b"]]      # b seen; a (the only other event) is seen too
    # 2.5 h lies in bucket 2 ([1, 3) h); in train bucket 2 is followed by bucket 6 ([24, 48) h: 30 h) twice
    (first,), _ = got["bucket"][0]
    assert first[0] == pytest.approx(bucket_hours(6)) and first[1] == ""
    assert [c[0][0] for c in got["last_time"][0]] == [2.5, -2.0]


def test_forecast_baselines_on_a_hand_made_fixture():
    train = pd.DataFrame({"last_event": ["a", "a", "a", "b"], "hypothesis_event": ["x", "y", "x", "y"]})
    probes = [{"event": "x", "hours": 3.0, "ties": ["x"], "last_event": "a", "observation_times": [0.0, 2.0, 2.0, 3.0]},
              {"event": "y", "hours": 1.0, "ties": ["y"], "last_event": "q", "observation_times": [-1.0, 1.0]}]
    got = forecast_baselines(train, probes, k=1)
    assert [c[0][1] for c in got["most_frequent"][0]] == ["x", "x"]  # x 2, y 2: tie → alphabetical
    assert [c[0][1] for c in got["bigram"][0]] == ["x", "x"]         # a → x twice; q unseen → most frequent
    assert [c[0][0] for c in got["observed_time_mode"][0]] == [2.0, 1.0]  # mode; a tie goes to the latest
    assert [c[0][0] for c in got["last_time"][0]] == [3.0, 1.0]


def built(cfg, module: bool = True):
    """The composed run's prepared datamodule and (unless ``module=False``) its task module, as train.py builds them."""
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    if not module:
        return datamodule, None
    return datamodule, hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())


@pytest.mark.parametrize("task", ["nextevent", "forecast"])
@pytest.mark.parametrize("family", FAMILIES)
def test_test_evaluation_after_a_tiny_trainer_test(task, family, train_data, tmp_path):
    cfg = compose_train(tiny(train_data, task, tmp_path, family, "logger=none", "callbacks=none"), tmp_path)
    datamodule, module = built(cfg)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_test_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule)
    summary = module.test_evaluation(datamodule).summarize(n_resamples=200)
    test_frame = datamodule.frames["test"]
    lengths = test_frame["events"].map(len) if task == "nextevent" else None
    expected_rows = (lengths[lengths >= 2] - 1).sum() if task == "nextevent" else len(test_frame)
    assert len(module.probes["test"]) == expected_rows  # every position (nextevent), every window (forecast)
    headline = "top1_tied" if task == "nextevent" else "exact_match_tied"
    assert f"test/{headline}" in summary["metrics"] and "test/bits_per_event" in summary["metrics"]
    assert summary["metrics"]["test/bits_per_event"] > 0
    expected = {"nextevent": {"most_frequent", "bigram", "bigram_unseen", "kneser_ney", "kneser_ney_unseen", "bucket",
                              "last_time"},
                "forecast": {"most_frequent", "bigram", "observed_time_mode", "last_time"}}[task]
    assert set(summary["baselines"]) == expected
    assert summary["best_baseline"]["metric_name"] == f"test/{headline}"
    lo, hi = summary["ci95"][f"test/{headline}"]
    assert lo <= summary["metrics"][f"test/{headline}"] <= hi
    assert summary["baselines"]["last_time"]["test/time_parsed"] == 1.0


def test_test_evaluation_before_a_test_epoch_is_a_clear_error(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "gpt"), tmp_path)
    datamodule, module = built(cfg)
    with pytest.raises(RuntimeError, match="trainer.test"):
        module.test_evaluation(datamodule)


def test_eval_limit_cuts_the_scored_test_examples(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "gpt", "task.eval_limit=3"), tmp_path)
    datamodule = built(cfg, module=False)[0]
    assert len(datamodule.probes("test")) == 3 and len(datamodule.probes("val")) == 4  # val: probe_size


def test_bert_masking_uses_the_collator_reproducibly_and_never_masks_specials(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "nextevent", tmp_path, "bert"), tmp_path)
    datamodule, module = built(cfg)
    tok = datamodule.tokenizer
    ids = torch.tensor([[tok.cls_token_id, *range(10, 40), tok.sep_token_id]] * 8)
    attention = torch.ones_like(ids)
    attention[0, 20:] = 0
    module.on_validation_epoch_start()
    first = module._mask(ids, attention, "val")
    module.on_validation_epoch_start()
    again = module._mask(ids, attention, "val")
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])  # same masks every evaluation
    masked, labels = first
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any() and not chosen[0, 20:].any()  # specials, padding
    assert torch.equal(labels[chosen], ids[chosen]) and 0.05 < chosen.float().mean() < 0.3
    assert (masked[chosen] == tok.mask_token_id).float().mean() > 0.6  # ~80 % [MASK]
    one = module._mask(ids[:1, :3], attention[:1, :3], "train")[1]
    assert (one != -100).sum() >= 1  # a tiny batch still predicts a token
