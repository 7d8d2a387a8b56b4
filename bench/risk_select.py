"""How the demo defaults of task=risk were chosen: on the validation split only (the test split is never read).

    python bench/risk_select.py [outcome=mortality] [any train.py override ...]   # → risk_select[_<outcome>].json

The encoder is frozen (``task.encoder=frozen``), so each admission's pooled vector is computed once for both poolings
(``cls``, ``mean``); then heads are trained exactly as ``train.py`` trains them (``RiskModule`` under a Lightning
Trainer, the same data, loss, optimizer and schedule) for each pooling × head learning rate × epochs × time
encoding, and their best ``val/auroc`` is printed and written to bench/results/risk_select.json.
"""

import itertools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
import lightning as L
import torch
from bench_io import machine, write_result
from hydra import compose, initialize_config_dir

import cts.training  # noqa: F401
from cts.models.heads import pool

GRID = {"pooling": ["cls", "mean"], "head_lr": [3e-4, 1e-3, 3e-3], "max_epochs": [5, 10, 20],
        "time_encoding": ["none", "bins"]}


def _compose(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return compose("train", overrides=["task=risk", "logger=none", "callbacks=none", "test=false",
                                           "task.encoder=frozen", *overrides])


def pooled_vectors(cfg) -> tuple[object, dict[str, dict[int, torch.Tensor]]]:
    """The datamodule and, per pooling, every train/val admission's pooled vector from the frozen encoder."""
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule, spec=spec, build=cfg.data.get("build"))
    datamodule.prepare_data()
    datamodule.prepare()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs()).eval()
    caches = {name: {} for name in GRID["pooling"]}
    with torch.no_grad():
        for loader in (datamodule.train_dataloader(), datamodule.val_dataloader()):
            for batch in loader:
                out = module.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                for name in GRID["pooling"]:
                    vectors = pool(out.last_hidden_state, batch["attention_mask"], name)
                    caches[name].update(zip(batch["hadm_id"].tolist(), vectors))
    return datamodule, caches


def fit_head(cfg, datamodule, cache: dict, head_lr: float, max_epochs: int, time_encoding: str) -> list[float]:
    """``val/auroc`` after each epoch of a head trained as train.py trains it (the encoder's vectors from ``cache``)."""
    L.seed_everything(cfg.seed, workers=True)
    spec = hydra.utils.instantiate(cfg.model)
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, head_lr=head_lr, time_encoding=time_encoding,
                                     **datamodule.module_kwargs())
    module._pooled_cache = cache
    curve = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):  # after the epoch's validation
            curve.append(float(trainer.callback_metrics["val/auroc"]))

    trainer = hydra.utils.instantiate(cfg.trainer, max_epochs=max_epochs, logger=False, enable_checkpointing=False,
                                      enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()],
                                      default_root_dir=str(ROOT / "logs" / "bench" / "risk_select"))
    trainer.fit(module, datamodule=datamodule)
    return curve


def main(argv: list[str]) -> None:
    overrides = [a for a in argv if not a.startswith("outcome=")]
    outcome = next((a.split("=", 1)[1] for a in argv if a.startswith("outcome=")), "mortality")
    cfg = _compose([f"outcome={outcome}", *overrides])
    start = time.perf_counter()
    datamodule, caches = pooled_vectors(cfg)
    encode_s = time.perf_counter() - start
    rows = []
    for pooling, head_lr, epochs, encoding in itertools.product(*GRID.values()):
        curve = fit_head(cfg, datamodule, caches[pooling], head_lr, epochs, encoding)
        rows.append({"pooling": pooling, "head_lr": head_lr, "max_epochs": epochs, "time_encoding": encoding,
                     "val_auroc_last": curve[-1], "val_auroc_best": max(curve), "curve": curve})
        print(f"{pooling:<5} lr {head_lr:<7g} epochs {epochs:<3} time {encoding:<10} val/auroc last "
              f"{curve[-1]:.3f} best {max(curve):.3f}", flush=True)
    best = max(rows, key=lambda r: r["val_auroc_best"])
    print(f"best on val: {best}")
    name = "risk_select.json" if outcome == "mortality" else f"risk_select_{outcome}.json"
    write_result(ROOT / "bench" / "results" / name,
                 {"machine": machine(), "outcome": outcome, "overrides": overrides, "model": cfg.model.name,
                  "max_length": cfg.model.max_length, "val_admissions": len(datamodule.frames["val"]),
                  "encode_s": round(encode_s, 1), "grid": GRID, "rows": rows, "best": best})


if __name__ == "__main__":
    main(sys.argv[1:])
