"""How the demo defaults of task=risk are chosen: grouped cross-validation on the train and validation splits (the
test split is never read).

    python bench/risk_select.py [--outcomes mortality,los7,readmission30] [--folds 5] [--out PATH] [-- OVERRIDES]
                                                                         # → logs/bench/risk_select.json

A demo validation split holds 33–51 admissions, so one validation AUROC moves by several hundredths between
settings that are equally good (an earlier, validation-only selection picked settings that then lost on test). Here
the train and validation admissions are pooled and their patients dealt into ``--folds`` folds (no patient in two).
The encoder is frozen (``task.encoder=frozen``), so what it gives the head is computed once per admission and pooling
(``cls``, ``mean``, or ``events``: each event's token states beside its own hours, summed over the events); then
for every pooling × head learning rate × epochs × time encoding and every fold, a head is trained exactly as
``train.py`` trains it (``RiskModule`` under a Lightning Trainer: the same loss, optimizer and schedule) on the other
folds and scored on the held-out one after its last epoch (no checkpoint is chosen on the rows it is scored on).
The bag-of-events LR baseline is scored on the same folds. The setting with the best out-of-fold AUROC, averaged
over the outcomes, is the default in ``conf/task/risk.yaml``.
"""

import argparse
import copy
import itertools
import logging
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
import lightning as L
import numpy as np
import pandas as pd
import torch
import transformers
from bench_io import RESULTS, machine, write_result
from hydra import compose, initialize_config_dir
from sklearn.metrics import roc_auc_score

import cts  # noqa: F401  (registers the config resolvers)
from cts.tasks.risk.baseline import BagOfEventsBaseline
from cts.training.data import TokenizedDataset
from cts.training.groups import instantiate_datamodule

GRID = {"pooling": ["cls", "mean", "events"], "head_lr": [1e-3, 3e-3], "max_epochs": [10, 20, 40],
        "time_encoding": ["none", "bins"]}
RESULT = RESULTS / "risk_select.json"


def _compose(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return compose("train", overrides=["task=risk", "logger=none", "callbacks=none", "test=false",
                                           "task.encoder=frozen", *overrides])


def encoded_admissions(cfg):
    """The datamodule and, per pooling, what the frozen encoder gives the head for every train/val admission (each
    pooling's module cache). Seeded and built in train.py's order, so the encoder — including the random rows of the
    tokens a task adds, ``[TIME]``/``[EVENT]`` — is the one train.py reads; one pass of it serves every pooling."""
    L.seed_everything(cfg.seed, workers=True)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare_data()
    datamodule.prepare()
    modules = {pooling: hydra.utils.instantiate(cfg.task.module, spec=spec, pooling=pooling,
                                                **datamodule.module_kwargs()).eval()
               for pooling in GRID["pooling"]}
    encoder = next(iter(modules.values())).backbone
    with torch.no_grad():
        for loader in (datamodule.train_dataloader(), datamodule.val_dataloader()):
            for batch in loader:
                out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                for module in modules.values():
                    module.remember(batch["hadm_id"].tolist(), module.head_inputs(out, batch))
    return datamodule, {pooling: module._pooled_cache for pooling, module in modules.items()}


def patient_folds(frame: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """Each row's fold: patients (``subject_id``, else the admission) dealt in a seeded random order."""
    patients = frame["subject_id"] if "subject_id" in frame else frame["hadm_id"]
    codes, unique = pd.factorize(patients, sort=True)
    dealt = np.empty(len(unique), dtype=np.int64)
    dealt[np.random.default_rng(seed).permutation(len(unique))] = np.arange(len(unique)) % n_folds
    return dealt[codes]


class Pooled:
    """The train and validation admissions as one pool: rows, encoded columns, labels and folds."""

    def __init__(self, datamodule, n_folds: int, seed: int):
        self.datamodule = datamodule
        self.frame = pd.concat([datamodule.frames["train"], datamodule.frames["val"]], ignore_index=True)
        columns = [datamodule.datasets[s].columns for s in ("train", "val")]
        self.columns = {name: [*columns[0][name], *columns[1][name]] for name in columns[0]}
        self.labels = self.frame["label"].to_numpy().astype(int)
        self.fold = patient_folds(self.frame, n_folds, seed)
        self.splits = [self._split(fold) for fold in range(n_folds)]  # made once, trained on by every setting

    def _split(self, fold: int):
        """A shallow copy of the datamodule whose train/val splits are the other folds / this fold."""
        out = copy.copy(self.datamodule)
        out.datasets = {name: TokenizedDataset({k: [v[i] for i in np.flatnonzero(rows)]
                                                for k, v in self.columns.items()})
                        for name, rows in (("train", self.fold != fold), ("val", self.fold == fold))}
        return out


def fit_head(cfg, pooled: Pooled, fold: int, cache: dict, setting: dict) -> tuple[float, list[float]]:
    """A head trained as train.py trains it on the other folds: held-out AUROC after the last epoch, and per epoch."""
    L.seed_everything(cfg.seed, workers=True)
    spec = hydra.utils.instantiate(cfg.model)
    split = pooled.splits[fold]
    counts = np.bincount(pooled.labels[pooled.fold != fold], minlength=2).tolist()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, head_lr=setting["head_lr"],
                                     time_encoding=setting["time_encoding"], pooling=setting["pooling"],
                                     **{**pooled.datamodule.module_kwargs(), "class_counts": counts})
    module._pooled_cache = cache
    curve = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):  # after the epoch's validation
            curve.append(float(trainer.callback_metrics["val/auroc"]))

    trainer = hydra.utils.instantiate(cfg.trainer, max_epochs=setting["max_epochs"], logger=False,
                                      enable_checkpointing=False, enable_progress_bar=False,
                                      enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Record()],
                                      default_root_dir=str(ROOT / "logs" / "bench" / "risk_select"))
    trainer.fit(module, train_dataloaders=split.train_dataloader(), val_dataloaders=split.val_dataloader())
    return curve[-1], curve


def baseline_auroc(cfg, pooled: Pooled, fold: int) -> float:
    """The bag-of-events LR (train.py's baseline) fitted on the other folds, scored on this one."""
    train, held = pooled.frame[pooled.fold != fold], pooled.frame[pooled.fold == fold]
    baseline = BagOfEventsBaseline(cfg.task.imbalance).fit(train)
    return float(roc_auc_score(held["label"], baseline.predict_proba(held)))


def select(outcome: str, n_folds: int, overrides: list[str]) -> dict:
    cfg = _compose([f"outcome={outcome}", *overrides])
    start = time.perf_counter()
    datamodule, caches = encoded_admissions(cfg)
    pooled = Pooled(datamodule, n_folds, cfg.seed)
    encode_s = time.perf_counter() - start
    baseline = [baseline_auroc(cfg, pooled, k) for k in range(n_folds)]
    print(f"{outcome}: {len(pooled.frame)} admissions in {n_folds} patient folds; bag-of-events LR out-of-fold "
          f"AUROC {np.mean(baseline):.3f} ± {np.std(baseline):.3f}", flush=True)
    rows = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values))
        scores = [fit_head(cfg, pooled, k, caches[setting["pooling"]], setting)[0] for k in range(n_folds)]
        rows.append({**setting, "auroc_folds": scores, "auroc_mean": float(np.mean(scores)),
                     "auroc_std": float(np.std(scores))})
        print(f"  {setting['pooling']:<5} lr {setting['head_lr']:<6g} epochs {setting['max_epochs']:<3} time "
              f"{setting['time_encoding']:<5} out-of-fold AUROC {np.mean(scores):.3f} ± {np.std(scores):.3f}",
              flush=True)
    return {"admissions": len(pooled.frame), "positives": int(pooled.labels.sum()), "encode_s": round(encode_s, 1),
            "baseline_auroc_folds": baseline, "baseline_auroc_mean": float(np.mean(baseline)), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", default="mortality,los7,readmission30")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULT,
                        help="result file (the default is the one docs are generated from: keep it for full runs)")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (after --)")
    args = parser.parse_args()
    for name in ("lightning.pytorch", "lightning.fabric"):  # hundreds of fits: no per-fit banners
        logging.getLogger(name).setLevel(logging.WARNING)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    outcomes = args.outcomes.split(",")
    start = time.perf_counter()
    results = {outcome: select(outcome, args.folds, args.overrides) for outcome in outcomes}
    ranking = []
    for i, values in enumerate(itertools.product(*GRID.values())):  # every outcome's rows are in grid order
        per = {o: results[o]["rows"][i]["auroc_mean"] for o in outcomes}
        ranking.append({**dict(zip(GRID, values)), "auroc_by_outcome": per,
                        "auroc_mean": float(np.mean(list(per.values())))})
    ranking.sort(key=lambda r: -r["auroc_mean"])
    print("best settings, out-of-fold AUROC averaged over the outcomes:")
    for row in ranking[:5]:
        print(f"  {row}")
    print("bag-of-events LR: " + ", ".join(f"{o} {results[o]['baseline_auroc_mean']:.3f}" for o in outcomes))
    write_result(args.out, {"machine": machine(), "wall_s": round(time.perf_counter() - start, 1),
                          "overrides": args.overrides, "folds": args.folds, "grid": GRID,
                          "scored": "held-out fold AUROC after the last epoch; train+val admissions only",
                          "outcomes": results, "ranking": ranking, "best": ranking[0]})


if __name__ == "__main__":
    main()
