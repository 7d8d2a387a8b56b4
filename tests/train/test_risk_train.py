"""Real (tiny) risk runs: every family through train.py's run body, then the test-end evaluation; the baseline."""

import numpy as np
import pandas as pd
import pytest
from report_checks import is_png
from train_helpers import compose_train

from cts.tasks.risk.baseline import BagOfEventsBaseline
from cts.training.run import train
from cts.viz.figures import save_figure


def _overrides(root, work, family):
    return ["task=risk", f"model={family}", "model.preset=tiny", f"data.dir={root / 'tasks' / 'risk'}",
            f"data.labels={root / 'labels' / 'los7.parquet'}", "data.batch_size=8", "data.eval_batch_size=64",
            f"cache_dir={work / 'cache'}", f"paths.log_dir={work / 'logs'}", "trainer.max_epochs=1",
            "trainer.limit_train_batches=2", "logger=none", "callbacks=none"]


@pytest.mark.parametrize("family", ["bert", "gpt", "llama"])
def test_fast_dev_run_every_family(family, risk_demo, tmp_path):
    cfg = compose_train(_overrides(risk_demo, tmp_path, family) + ["trainer.fast_dev_run=true"], tmp_path)
    metrics = train(cfg)
    assert {"test/auroc", "test/auprc", "test/brier", "test/loss"} <= set(metrics)


def test_trained_run_writes_predictions_plot_and_evaluation(risk_demo, tmp_path):
    import hydra
    import lightning as L

    cfg = compose_train(_overrides(risk_demo, tmp_path, "gpt") + ["task.time_encoding=sinusoidal",
                                                                    "task.imbalance=sampler"], tmp_path)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule, spec=spec)
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


def test_bag_of_events_baseline_on_a_hand_made_fixture():
    train = pd.DataFrame({"events": [["shock", "copd"], ["shock"], ["rash"], ["rash", "copd"]] * 5,
                          "label": [1, 1, 0, 0] * 5})
    test = pd.DataFrame({"events": [["Shock"], ["rash"], []], "label": [1, 0, 0]})
    probability = BagOfEventsBaseline().fit(train).predict_proba(test)
    assert probability[0] > 0.5 > probability[1]  # "shock" marks the positives (case-insensitive names)
    assert probability[1] < probability[2] < probability[0]  # no events: between the two
    with pytest.raises(ValueError, match="both outcomes"):
        BagOfEventsBaseline().fit(train.assign(label=1))
    assert np.isfinite(probability).all()
