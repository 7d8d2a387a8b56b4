"""Risk task on the demo: train (as ``python train.py task=risk``) and report the test AUROC/AUPRC/Brier of the model
and the baselines with admission-bootstrap 95% intervals, per outcome; writes bench/results/risk_demo.json.

    python bench/risk_demo.py [outcome=mortality,los7,readmission30] [baselines_only] [any train.py override ...]

``baselines_only`` scores the baselines on the same test admissions without training a model (seconds).

Until training/run.py writes the summary.json baselines block itself, this is where the intervals come from.
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CTS_ROOT", str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
import lightning as L
import numpy as np
import psutil
from hydra import compose, initialize_config_dir

import cts.training  # noqa: F401
from cts.data.labels import read_labels
from cts.io import write_json
from cts.tasks.risk.baseline import BagOfEventsBaseline
from cts.tasks.risk.metrics import risk_statistics
from cts.training.evaluation import TestEvaluation


def _compose(outcome: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train", overrides=["task=risk", f"outcome={outcome}", "logger=none", "callbacks=none",
                                          "paths.output_dir=" + str(ROOT / "logs" / "bench" / f"risk-{outcome}"),
                                          *overrides])
    return cfg


def baselines_only(outcome: str, overrides: list[str]) -> dict:
    cfg = _compose(outcome, overrides)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule, spec=hydra.utils.instantiate(cfg.model))
    datamodule.labels, _ = read_labels(datamodule.labels_path)
    train, test = datamodule.read("train"), datamodule.read("test")
    labels = test["label"].to_numpy()
    prevalence = np.full(len(labels), train["label"].mean())
    baselines = {"bag_of_events_lr": risk_statistics(BagOfEventsBaseline(cfg.task.imbalance).fit(train)
                                                     .predict_proba(test), labels),
                 "train_prevalence": risk_statistics(prevalence, labels)}
    start = time.perf_counter()
    summary = TestEvaluation(test["hadm_id"].to_numpy(), {}, baselines, "auroc").summarize(1000, 0)
    return {"outcome": outcome, "model": None, "bootstrap_time_s": round(time.perf_counter() - start, 2),
            "test_admissions": len(test), "test_positive": int(labels.sum()), **summary}


def run(outcome: str, overrides: list[str]) -> dict:
    cfg = _compose(outcome, overrides)
    L.seed_everything(cfg.seed, workers=True)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule, spec=spec)
    datamodule.prepare()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False,
                                      default_root_dir=cfg.paths.output_dir)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fitted = time.perf_counter() - start
    trainer.test(module, datamodule=datamodule)
    start = time.perf_counter()
    summary = module.test_evaluation(datamodule).summarize(n_resamples=1000, seed=0)
    return {"outcome": outcome, "model": spec.name, "train_time_s": round(fitted, 1),
            "bootstrap_time_s": round(time.perf_counter() - start, 2),
            "test_admissions": len(datamodule.frames["test"]),
            "test_positive": int(datamodule.frames["test"]["label"].sum()), **summary}


def main(argv: list[str]) -> None:
    outcomes = ["mortality", "los7", "readmission30"]
    for arg in argv:
        if arg.startswith("outcome="):
            outcomes = arg.split("=", 1)[1].split(",")
    only = "baselines_only" in argv
    overrides = [a for a in argv if not a.startswith("outcome=") and a != "baselines_only"]
    load = os.getloadavg()[0]
    results = [(baselines_only if only else run)(outcome, overrides) for outcome in outcomes]
    machine = {"cpus": psutil.cpu_count(), "load_1min_at_start": round(load, 2), "overrides": overrides}
    for r in results:
        line = f"{r['outcome']:<14} "
        if r["model"]:
            ci = r["ci95"]["test/auroc"]
            line += f"{r['model']} AUROC {r['metrics']['test/auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]  "
        for name, values in r["baselines"].items():
            ci = values["ci95"]["test/auroc"]
            line += f"{name} {values['test/auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]  "
        print(line + f"bootstrap {r['bootstrap_time_s']:.2f} s")
    out = ROOT / "bench" / "results" / "risk_demo.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    for result in results:  # one entry per (overrides, outcome): separate runs add up in one file
        key = ",".join([f"outcome={result['outcome']}", *overrides, *(["baselines_only"] if only else [])])
        previous[key] = {"machine": machine, **result}
    write_json(out, previous)


if __name__ == "__main__":
    main(sys.argv[1:])
