"""task=risk's module in real (tiny) runs: every family through train.py's run body, then the test-end evaluation,
predictions and figures; rows merged across DDP ranks; a frozen encoder read once; task pooling and event pooling."""

import json

import numpy as np
import pandas as pd
import pytest
from hydra.errors import InstantiationException
from sklearn.metrics import roc_auc_score

from cts.tasks.risk.module import demo_risk, merge_scored
from cts.training.groups import instantiate_datamodule
from cts.training.run import train
from cts.viz.figures import save_figure
from tests.training.helpers import compose_train, is_png, run_cli


def _overrides(root, work, family, eval_batch_size=64):
    return ["task=risk", f"model={family}", "model.preset=tiny", f"data.dir={root / 'tasks' / 'risk'}",
            f"data.labels={root / 'labels' / 'los7.parquet'}", "data.batch_size=8",
            f"data.eval_batch_size={eval_batch_size}",
            f"paths.cache_dir={work / 'cache'}", f"paths.log_dir={work / 'logs'}", "trainer.max_epochs=1",
            "trainer.limit_train_batches=2", "logger=none", "callbacks=none"]


@pytest.mark.e2e
@pytest.mark.parametrize("family,pooling", [("bert", "null"), ("gpt", "null"), ("llama", "null"),
                                            ("bert", "events"), ("gpt", "events")])
def test_fast_dev_run_every_family(family, pooling, risk_demo, tmp_path):
    cfg = compose_train(_overrides(risk_demo, tmp_path, family) + ["trainer.fast_dev_run=true",
                                                                  f"task.pooling={pooling}"], tmp_path)
    metrics = train(cfg)
    assert {"test/auroc", "test/auprc", "test/brier", "test/loss"} <= set(metrics)


def test_trained_run_writes_predictions_plot_and_evaluation(risk_demo, tmp_path):
    import hydra
    import lightning as L

    cfg = compose_train(_overrides(risk_demo, tmp_path, "gpt") + ["task.time_encoding=sinusoidal",
                                                                    "task.imbalance=sampler"], tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule)
    summary = module.test_evaluation(datamodule).summarize(n_resamples=200)
    assert set(summary["baselines"]) == {"bag_of_events_lr", "train_prevalence"}
    assert summary["baselines"]["train_prevalence"]["test/auroc"] == pytest.approx(0.5)
    assert summary["best_baseline"]["metric_name"] == "test/auroc"
    # the demo's own labels: the ceiling is the generator's probability of each test admission, on the same rows
    labels = pd.read_parquet(risk_demo / "labels" / "los7.parquet").set_index("hadm_id")["label"].astype(int)
    drawn_risk = demo_risk(datamodule, test_ids := module.test_scored["hadm_id"].to_numpy())
    assert summary["ceiling"]["test/auroc"] == pytest.approx(roc_auc_score(labels[test_ids], drawn_risk))
    assert summary["ceiling"]["test/auroc"] > summary["baselines"]["bag_of_events_lr"]["test/auroc"]
    assert summary["gap_closed"]["metric_name"] == "test/auroc"
    datamodule.labels_path = str(tmp_path / "elsewhere" / "los7.parquet")  # other labels: no ceiling claimed
    assert demo_risk(datamodule, test_ids) is None
    predictions = pd.read_parquet(tmp_path / "predictions_test.parquet")
    assert list(predictions.columns) == ["subject_id", "prediction_time", "boolean_value", "predicted_boolean_value",
                                         "predicted_boolean_probability"]
    test = datamodule.frames["test"]
    assert len(predictions) == len(test) and set(predictions["subject_id"]) == set(test["subject_id"])
    # demo labels carry admittime: each prediction is admittime + 24 h
    expected = set(pd.to_datetime(test["admittime"]) + pd.Timedelta(hours=24))
    assert set(predictions["prediction_time"]) == expected
    drawn = module.test_figures(datamodule, summary)
    assert set(drawn) == {"reliability_test", "roc_test", "pr_test"}
    for name, figure in drawn.items():
        assert is_png(save_figure(figure, tmp_path / f"{name}.png")), name


def test_merge_scored_keeps_one_row_per_admission():
    # rank 0 scored admissions 7 and 3, rank 1 scored 5 and 7 again (DDP pads ranks to equal batch counts)
    rows = [(7, 0.9, 1.0), (3, 0.2, 0.0), (5, 0.4, 1.0), (7, 0.9, 1.0)]
    merged = merge_scored(rows)
    assert merged["hadm_id"].tolist() == [7, 3, 5]
    assert merged["probability"].tolist() == [0.9, 0.2, 0.4] and merged["label"].tolist() == [1.0, 0.0, 1.0]
    assert merge_scored([]).empty


@pytest.mark.e2e
def test_ddp_sim_gathers_every_ranks_test_admissions(risk_demo, tmp_path):
    """Two CPU processes, test batches of 1 split between them: rank 0's summary and prediction file hold every
    test admission once (each rank scored about half)."""
    run_cli(*_overrides(risk_demo, tmp_path, "bert", eval_batch_size=1), "trainer=ddp_sim", "name=ddp",
            "bootstrap.n_resamples=100", timeout=900)
    run = tmp_path / "logs" / "train" / "runs" / "ddp"
    test = pd.read_parquet(risk_demo / "tasks" / "risk" / "test.parquet")
    test = test[test["hadm_id"].isin(pd.read_parquet(risk_demo / "labels" / "los7.parquet")["hadm_id"])]
    predictions = pd.read_parquet(run / "predictions_test.parquet")
    summary = json.loads((run / "summary.json").read_text())
    assert len(test) >= 2 * 2  # at least two batches per rank
    assert len(predictions) == len(test) and set(predictions["subject_id"]) == set(test["subject_id"])
    assert summary["best_baseline"]["metric_name"] == "test/auroc"
    assert {"test/auroc", "test/auprc", "test/brier"} <= set(summary["ci95"])


def _module(root, work, *extra):
    import hydra

    cfg = compose_train(_overrides(root, work, "bert") + list(extra), work)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    return datamodule, hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())


def test_frozen_pretrained_encoder_is_read_once_per_admission(risk_demo, tmp_path):
    import torch

    datamodule, module = _module(risk_demo, tmp_path, "model.preset=null", "model.max_length=48",
                                 "task.encoder=frozen", "task.head_lr=0.01")
    assert module.frozen and not any(p.requires_grad for p in module.backbone.parameters())
    module.train()
    assert module.head.training and not module.backbone.training  # no dropout in the frozen encoder
    batch = next(iter(datamodule.val_dataloader()))
    module.eval()
    first = module(batch)
    assert len(module._pooled_cache) == len(batch["hadm_id"])

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the frozen encoder ran again for admissions it had already read")

    module.backbone.forward = no_second_pass
    assert torch.equal(module(batch), first)
    (group,) = module.optimizer_groups()  # only the head trains, at task.head_lr
    assert group["lr"] == 0.01 and sum(p.numel() for p in group["params"]) == module.parameter_counts()[
        "params_trainable"]
    with pytest.raises(InstantiationException, match="model.lora.r > 0 would be ignored"):
        _module(risk_demo, tmp_path, "model.preset=null", "task.encoder=frozen", "model.lora.r=4")


def test_presets_are_fine_tuned_even_when_frozen_is_asked(risk_demo, tmp_path):
    _, module = _module(risk_demo, tmp_path, "task.encoder=frozen", "task.head_lr=0.01")
    assert not module.frozen and all(p.requires_grad for p in module.backbone.parameters())
    head, encoder = module.optimizer_groups()  # the head at head_lr, the encoder at the model's rate
    assert head["lr"] == 0.01 and "lr" not in encoder
    assert {id(p) for p in encoder["params"]} == {id(p) for p in module.backbone.parameters()}


def test_task_pooling_overrides_the_model_pooling(risk_demo, tmp_path):
    import torch

    datamodule, module = _module(risk_demo, tmp_path, "task.pooling=mean")
    assert module.pooling == "mean" and module.spec.pooling == "cls"
    batch = next(iter(datamodule.val_dataloader()))
    module.eval()
    with torch.no_grad():
        hidden = module.backbone(input_ids=batch["input_ids"],
                                 attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = (hidden * mask).sum(1) / mask.sum(1)
        assert torch.allclose(module._encode(batch)[0], expected, atol=1e-5)
    assert _module(risk_demo, tmp_path, "task.pooling=null")[1].pooling == "cls"  # the model's
    with pytest.raises(InstantiationException, match="task.pooling must be one of"):
        _module(risk_demo, tmp_path, "task.pooling=max")


def test_event_pooling_reads_each_event_with_its_own_hours(risk_demo, tmp_path):
    import torch

    datamodule, module = _module(risk_demo, tmp_path, "model.preset=null", "task.encoder=frozen",
                                 "task.pooling=events", "task.max_length=64")
    frame, columns = datamodule.frames["val"], datamodule.datasets["val"].columns
    tokenizer = datamodule.tokenizer
    truncated = 0
    for row in range(len(frame)):
        ids, segments = np.asarray(columns["input_ids"][row]), np.asarray(columns["segment_ids"][row])
        hours = np.asarray(columns["segment_hours"][row])
        events, times = frame["events"].iloc[row], frame["times"].iloc[row]
        kept = int(segments.max())
        assert 0 < kept <= len(events)
        truncated += kept < len(events)
        for k in range(1, kept + 1):  # segment k is the k-th of the most recent `kept` events, with its hours
            event = len(events) - kept + k - 1
            text = tokenizer.decode(ids[segments == k]).lower()
            assert "".join(str(events[event]).lower().split()) in "".join(text.split())
            assert np.all(hours[segments == k] == times[event])
        assert segments[0] == 0 and segments[len(ids) - 1] == 0  # [CLS] / [SEP] belong to no event
    assert truncated  # at 64 tokens some rows keep only their latest events
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["segment_hours"].dtype == torch.float32 and batch["segment_ids"].shape == batch["input_ids"].shape
    module.eval()
    first = module(batch)
    cached = module._pooled_cache[int(batch["hadm_id"][0])]
    assert cached[0].shape == (int(batch["segment_ids"][0].max()), module.backbone.config.hidden_size)
    module.frozen = False  # the same logits computed without the cache (padding and order do not matter)
    assert torch.allclose(module(batch), first, atol=1e-5)
