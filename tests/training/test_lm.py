"""The language-model tasks' module (``cts.training.lm``, task=nextevent and task=forecast): the test-end contract
after a real (tiny) trainer.test, a clear error before one, BERT masking through the collator."""

import lightning as L
import pytest
import torch

from tests.training.helpers import FAMILIES, built, compose_train, tiny


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
    headline = "top5_tied" if task == "nextevent" else "exact_match_tied"
    assert f"test/{headline}" in summary["metrics"] and "test/bits_per_event" in summary["metrics"]
    assert summary["metrics"]["test/bits_per_event"] > 0
    expected = {"nextevent": {"most_frequent", "bigram", "bigram_unseen", "kneser_ney", "kneser_ney_unseen", "bucket",
                              "last_time"},
                "forecast": {"most_frequent", "bigram", "bigram_unseen", "observed_time_mode", "last_time"}}[task]
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
