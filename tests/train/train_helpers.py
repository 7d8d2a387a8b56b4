"""Helpers for train.py tests: composed configs with the Hydra runtime set, overrides that keep runs to seconds
(tiny presets, few batches), and running ``python train.py`` as users do."""

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

import cts  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("relation", "nextevent", "forecast")
FAMILIES = ("bert", "gpt", "llama")


def tiny(data: Path, task: str, work: Path, family: str = "bert", *extra: str) -> list[str]:
    """Overrides for a seconds-long run: tiny preset, 2 train batches, 1 val/test batch, 4 generation probes."""
    overrides = [f"task={task}", f"model={family}", "model.preset=tiny", f"data.dir={data / 'tasks' / task}",
                 "data.batch_size=8", "data.eval_batch_size=8", f"paths.cache_dir={work / 'cache'}",
                 f"paths.log_dir={work / 'logs'}", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                 "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "trainer.log_every_n_steps=1"]
    if task != "relation":
        overrides += ["task.datamodule.probe_size=4", "task.module.max_new_tokens=8"]
    return overrides + list(extra)


def compose_train(overrides: list[str], output_dir: Path):
    """The composed train config as train.py would see it (Hydra runtime set, output dir = ``output_dir``)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` in a subprocess (what users type); fails the test with its output on error."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done
