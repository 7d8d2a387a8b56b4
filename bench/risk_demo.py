"""Risk task on the demo: train (as ``python train.py task=risk``) and report the test AUROC/AUPRC/Brier of the model
and the baselines with admission-bootstrap 95% intervals, per outcome; writes bench/results/risk_demo.json.

    python bench/risk_demo.py [outcome=mortality,los7,readmission30] [any train.py override ...]

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
import psutil
from hydra import compose, initialize_config_dir

import cts.training  # noqa: F401
from cts.io import write_json


def run(outcome: str, overrides: list[str]) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train", overrides=["task=risk", f"outcome={outcome}", "logger=none", "callbacks=none",
                                          "paths.output_dir=" + str(ROOT / "logs" / "bench" / f"risk-{outcome}"),
                                          *overrides])
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
            "bootstrap_time_s": round(time.perf_counter() - start, 2), "test_admissions": len(datamodule.frames["test"]),
            "test_positive": int(datamodule.frames["test"]["label"].sum()), **summary}


def main(argv: list[str]) -> None:
    outcomes = ["mortality", "los7", "readmission30"]
    for arg in argv:
        if arg.startswith("outcome="):
            outcomes = arg.split("=", 1)[1].split(",")
    overrides = [a for a in argv if not a.startswith("outcome=")]
    load = os.getloadavg()[0]
    results = [run(outcome, overrides) for outcome in outcomes]
    machine = {"cpus": psutil.cpu_count(), "load_1min_at_start": round(load, 2), "overrides": overrides}
    for r in results:
        ci, base = r["ci95"], r["baselines"]["bag_of_events_lr"]
        print(f"{r['outcome']:<14} {r['model']:<22} AUROC {r['metrics']['test/auroc']:.3f} "
              f"[{ci['test/auroc'][0]:.3f}, {ci['test/auroc'][1]:.3f}]  bag-of-events LR "
              f"{base['test/auroc']:.3f} [{base['ci95']['test/auroc'][0]:.3f}, {base['ci95']['test/auroc'][1]:.3f}]  "
              f"train {r['train_time_s']:.0f} s, bootstrap {r['bootstrap_time_s']:.2f} s")
    out = ROOT / "bench" / "results" / "risk_demo.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    for result in results:  # one entry per (overrides, outcome): separate runs add up in one file
        previous[",".join([f"outcome={result['outcome']}", *overrides])] = {"machine": machine, **result}
    write_json(out, previous)


if __name__ == "__main__":
    main(sys.argv[1:])
