"""Helpers for the training tests (tests/training/, tests/tasks/, tests/models/): composed train configs with the
Hydra runtime set, overrides that keep runs to seconds (tiny presets, few batches), a composed run's datamodule and
module as train.py builds them, running ``python train.py`` as users do, and what every finished run's report holds
(report.html and the PNGs of its figures, the runner's and the task's)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

import cts  # noqa: F401
from cts.models.spec import ModelSpec
from cts.tasks.relation.datamodule import RelationDataModule
from cts.training.groups import instantiate_datamodule

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


TASK_FIGURES = {"relation": {"confusion_matrix_test"}, "nextevent": {"accuracy_test", "accuracy_by_time_test"},
                "forecast": {"accuracy_test", "hours_error_test"},
                "risk": {"reliability_test", "roc_test", "pr_test"},
                "pubmedqa": {"confusion_matrix_test"}, "trials": {"confusion_matrix_test"}}


def is_png(path: Path, min_bytes: int = 5_000) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= min_bytes


def assert_run_report(run_dir: Path, task: str, curves: bool = False) -> str:
    """The task's figures and model vs baselines (and learning curves with a CSV log) as valid PNGs, each inlined
    in report.html; returns the page."""
    expected = TASK_FIGURES[task] | {"model_vs_baselines"} | ({"learning_curves"} if curves else set())
    for name in expected:
        assert is_png(run_dir / f"{name}.png"), name
    page = (run_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(set(p.stem for p in run_dir.glob("*.png")))
    assert "http://" not in page and "https://" not in page
    return page


def built(cfg, module: bool = True):
    """The composed run's prepared datamodule and (unless ``module=False``) its task module, as train.py builds them."""
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare()
    if not module:
        return datamodule, None
    return datamodule, hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())


def relation_dm(directory, tmp_path, family="bert", **kwargs):
    return RelationDataModule(str(directory), ModelSpec(family, preset="tiny", cache_dir=tmp_path / "cache"),
                              batch_size=4, eval_batch_size=4, cache_dir=str(tmp_path / "cache"), **kwargs)


def copy_relation(train_data, tmp_path):
    target = tmp_path / "relation"
    shutil.copytree(train_data / "tasks" / "relation", target)
    return target
