"""The body of ``train.py``: check the config, build data → model → trainer from it, fit, test, summarize.

Everything comes from the composed config (``_target_`` nodes); this module only orders the steps, fails early
with messages that say what to change, and makes sure loggers are closed whatever happens (multiruns must not
merge W&B runs, a crashed run must still be marked finished).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import LearningRateMonitor, RichProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from cts.config import ConfigError, refuse_unread_overrides, repository_root, run_name, setting_overrides
from cts.errors import log_to_files, user_message
from cts.io import nan_to_none, write_json
from cts.models.checkpoint_file import read_checkpoint
from cts.offline import check_downloaded
from cts.progress.trainer import PlainProgressBar
from cts.reports.run import best_baseline_line, test_rows, write_run_report
from cts.training.checkpoints import RESUME_KEYS
from cts.training.groups import data_dir, instantiate_datamodule, watched_metric
from cts.utils import quiet_known_noise

log = logging.getLogger(__name__)
TEST_CHECKPOINTS = ("best", "last")  # which weights test reads after training (cfg.test_checkpoint)
SIGTERM_EXIT = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM: a run that did not finish
# trainer keys that must be whole numbers (Lightning compares them with ints only once training is under way)
WHOLE_TRAINER_KEYS = ("max_epochs", "min_epochs", "max_steps", "accumulate_grad_batches", "check_val_every_n_epoch",
                      "log_every_n_steps", "num_sanity_val_steps", "num_nodes")


def task_wrapper(function):
    """Run ``function(cfg)``; on any exit close every W&B run (marked failed on error) so sweeps never merge runs.

    The error itself is reported by the entry point (``cts.errors``): once, without a traceback for a user error.
    A run stopped by SIGTERM exits with 143 (Lightning would exit 0, as if it had finished), after ``last.ckpt``
    saved the moment's state. The final metrics go to the run's log file (the console shows them as a table)."""

    @functools.wraps(function)
    def wrapped(cfg: DictConfig):
        quiet_known_noise()
        try:
            metrics = function(cfg)
        except SIGTERMException:
            last = _last_checkpoint(cfg)
            log.warning("stopped by SIGTERM before the run finished (exit %d); %s", SIGTERM_EXIT,
                        f"the same command with ckpt_path=last resumes from {last}" if last else
                        "no checkpoint was saved (callbacks without last_checkpoint)")
            _finish_wandb(exit_code=SIGTERM_EXIT)
            raise SystemExit(SIGTERM_EXIT) from None
        except Exception as error:
            if user_message(error) is None:  # a bug: its traceback goes to the log file, Hydra prints it once
                log_to_files(f"run failed; its outputs are in {_output_dir(cfg)}", exc_info=error)
            _finish_wandb(exit_code=1)
            raise
        finally:
            _finish_wandb(exit_code=0)
        log_to_files("final metrics: " + json.dumps(metrics, default=str, sort_keys=True))
        return metrics

    return wrapped


def _finish_wandb(exit_code: int) -> None:
    if "wandb" in sys.modules:  # only if a W&B logger imported it
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)


def _output_dir(cfg: DictConfig) -> str:
    return OmegaConf.select(cfg, "paths.output_dir", default=".", throw_on_missing=False)


def check_config(cfg: DictConfig) -> None:
    """Fail at start, naming the key and the fix, for mistakes that would otherwise surface minutes later."""
    refuse_unread_overrides(cfg, "task", repository_root() / "conf" / "task")
    try:
        directory = data_dir(cfg)
    except MissingMandatoryValue:
        raise ConfigError(f"data={cfg.data.name} needs data.dir=DIR: a task dataset directory written by `python "
                          f"preprocess.py stage=build task={cfg.task.name} input=EVENTS output=DIR`") from None
    if not directory.is_dir() and cfg.data.get("build") is None:  # a data config with a build makes it
        raise ConfigError(f"data.dir={directory} does not exist: build it with `python preprocess.py stage=build "
                          f"task={cfg.task.name} input=EVENTS output={directory}`")
    module_class = hydra.utils.get_class(cfg.task.module._target_)
    supported = getattr(module_class, "TIME_ENCODINGS", ())
    if cfg.task.time_encoding not in supported:
        raise ConfigError(f"task.time_encoding={cfg.task.time_encoding} is not supported by task={cfg.task.name} "
                          f"(supported: {', '.join(supported)})")
    if cfg.test_checkpoint not in TEST_CHECKPOINTS:
        raise ConfigError(f"test_checkpoint={cfg.test_checkpoint}: must be one of {', '.join(TEST_CHECKPOINTS)}")
    _check_whole_numbers(cfg)
    if not cfg.model.get("preset"):
        check_downloaded(cfg.model.name_or_path, "model.name_or_path")
    if not cfg.train and not cfg.ckpt_path:
        raise ConfigError("train=false (evaluation only) needs ckpt_path=PATH/TO/checkpoint.ckpt")
    if not cfg.train and cfg.ckpt_path == "last":
        raise ConfigError("ckpt_path=last resumes training; to evaluate, give the checkpoint file's path")
    last = _last_checkpoint(cfg)
    if cfg.ckpt_path:
        checkpoint = last if cfg.ckpt_path == "last" else cfg.ckpt_path
        if checkpoint is not None:  # ckpt_path=last with nothing saved yet starts fresh (a first requeued job)
            # the whole file checked now, not after minutes of tokenizing; tensors mapped, not read
            read_checkpoint(checkpoint, "ckpt_path", RESUME_KEYS if cfg.train else ("state_dict",),
                            map_location="cpu", mmap=True, weights_only=True)
    if cfg.train and not cfg.ckpt_path and last is not None:
        raise ConfigError(f"{last.parent.parent} already holds this run ({last.name}): add ckpt_path=last to resume "
                          "or continue it, or name=NEW for a separate run (or delete the folder)")


def _check_whole_numbers(cfg: DictConfig) -> None:
    """``seed`` and the trainer's counts are whole numbers (``seed=abc`` failed deep in NumPy,
    ``trainer.max_epochs=abc`` in Lightning's loop)."""
    keys = {"seed": cfg.seed, **{f"trainer.{k}": cfg.trainer.get(k) for k in WHOLE_TRAINER_KEYS}}
    for key, value in keys.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            example = {"seed": 1234, "trainer.max_epochs": 2}.get(key, 1)
            raise ConfigError(f"{key}={value}: must be a whole number, e.g. {key}={example}")


def _last_checkpoint(cfg: DictConfig) -> Path | None:
    """This run's resumable checkpoint, if a previous run left one."""
    node = OmegaConf.select(cfg, "callbacks.last_checkpoint", default=None)
    if not node or not node.get("dirpath"):
        return None
    path = Path(node.dirpath) / "last.ckpt"
    return path if path.exists() else None


def _overrides() -> list[str]:
    """The run's command-line settings (:func:`cts.config.setting_overrides`): W&B tags, summaries."""
    return setting_overrides(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def instantiate_loggers(cfg: DictConfig) -> list[Logger]:
    """Every ``logger.*`` node; W&B runs are grouped by their overrides minus the seed (the seeds of one setting
    side by side), tagged with the overrides and the sweep, offline unless ``logger.wandb.offline=false``."""
    loggers = []
    for name, node in (cfg.logger or {}).items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        extra = {}
        if "wandb" in node._target_.lower():
            offline = bool(node.get("offline", True))
            if not offline and not (os.environ.get("WANDB_API_KEY") or _netrc_has_wandb()):
                raise ConfigError("logger.wandb.offline=false needs a W&B API key (WANDB_API_KEY or `wandb login`); "
                                  "without one W&B would prompt interactively")
            hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
            sweep = hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN
            settings = [o for o in _overrides() if not o.lstrip("+~").startswith("seed=")]
            extra["group"] = node.get("group") or run_name(None, settings)
            sweep_tag = [f"sweep:{Path(hydra_cfg.sweep.dir).name}"] if sweep else []
            extra["tags"] = list(node.get("tags") or [o[:64] for o in _overrides()] + sweep_tag)
            # explicit, so the Makefile's WANDB_MODE=offline cannot override logger.wandb.offline=false
            extra["mode"] = "offline" if offline else "online"
            extra["job_type"] = node.get("job_type") or cfg.task.name
        loggers.append(hydra.utils.instantiate(node, **extra))
        log.info("logger %s: %s", name, type(loggers[-1]).__name__)
    return loggers


def _netrc_has_wandb() -> bool:
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def instantiate_callbacks(cfg: DictConfig, has_logger: bool) -> list[L.Callback]:
    """The ``callbacks.*`` nodes; a progress bar becomes a plain-text line when stdout is not a terminal."""
    callbacks = []
    for node in (cfg.callbacks or {}).values():
        if isinstance(node, DictConfig) and "_target_" in node:
            callback = hydra.utils.instantiate(node, **watched_metric(cfg, node))
            if isinstance(callback, LearningRateMonitor) and not has_logger:
                continue  # Lightning refuses an LR monitor without a logger (logger=none)
            if isinstance(callback, (RichProgressBar, TQDMProgressBar)) and not sys.stdout.isatty():
                callback = PlainProgressBar()
            callbacks.append(callback)
    return callbacks


def hyperparameters(cfg: DictConfig, spec, module) -> dict:
    """Every resolved setting of the run (model with its optimizer and schedule, task, data, trainer, callbacks,
    seed) plus parameter counts and the overrides; never data rows or event text."""
    job = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    job["task"].pop("build", None)  # preprocess-only settings
    optimizer, scheduler = cfg.model.get("optimizer"), cfg.model.get("scheduler")
    return {**job, "backbone": spec.describe(), **module.parameter_counts(), "overrides": _overrides(),
            "optimizer": optimizer._target_.rsplit(".", 1)[-1] if optimizer else None,
            "schedule": scheduler._target_.rsplit(".", 1)[-1] if scheduler else None}


def objective(cfg: DictConfig, metrics: dict) -> float | None:
    """What ``train.py`` returns to a Hydra sweeper: the run's ``task.optimized_metric`` (a validation metric).

    None when the run trained but that metric is missing from ``metrics`` or not finite, with a warning naming it and
    the metrics that were logged. hydra-optuna-sweeper 1.3.0 cannot cast None to a float, tells Optuna the trial
    failed and goes on with the search; a NaN would stop it (with optuna 2.10 its ``tell`` refuses the NaN, then the
    plugin retells the failure with the NaN and that raises out of the sweep), and so does a job that raises.
    Evaluation only (``train=false``) optimizes nothing: None, silently."""
    if not cfg.train:
        return None
    name = cfg.task.optimized_metric
    value = metrics.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    logged = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    what = "missing" if name not in metrics else f"is {value}" if isinstance(value, float) else "is not a number"
    log.warning("objective %s %s: a sweep records this run failed (metrics logged: %s)", name, what,
                ", ".join(logged) or "none")
    return None


def _scalar(value):
    return float(value.item() if hasattr(value, "item") else value)


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (unless ``train=false``) and test; returns every logged metric, writes ``summary.json``."""
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    spec = hydra.utils.instantiate(cfg.model)
    datamodule = instantiate_datamodule(cfg, spec)
    datamodule.prepare_data()
    datamodule.prepare()
    module = hydra.utils.instantiate(cfg.task.module, spec=spec, **datamodule.module_kwargs())
    loggers = instantiate_loggers(cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=instantiate_callbacks(cfg, bool(loggers)),
                                      logger=loggers or False)
    settings = hyperparameters(cfg, spec, module)
    for logger in loggers:
        logger.log_hyperparams(settings)

    train_time, metrics = 0.0, {}
    if cfg.train:
        start = time.perf_counter()
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        train_time = time.perf_counter() - start
        metrics.update({k: _scalar(v) for k, v in trainer.callback_metrics.items()})
    if cfg.test:
        best = (trainer.checkpoint_callback.best_model_path if cfg.train and trainer.checkpoint_callback
                and cfg.test_checkpoint == "best" else "")
        checkpoint = best or (None if cfg.train else cfg.ckpt_path)
        trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint)
        metrics.update({k: _scalar(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        metrics["test_checkpoint"] = checkpoint or "last weights"
    if trainer.is_global_zero:
        summary = _summary(cfg, spec, module, metrics, train_time)
        if cfg.test:
            summary.update(_test_block(cfg, module, datamodule, summary["metrics"]))
        _write_summary(cfg, summary, trainer.loggers)
        write_run_report(_output_dir(cfg), nan_to_none(summary), module, datamodule, trainer.loggers, bool(cfg.test))
    return metrics


def _summary(cfg: DictConfig, spec, module, metrics: dict, train_time: float) -> dict:
    """The run identity part of ``summary.json`` (the whole contract: docs/training.md, top)."""
    counts = module.parameter_counts()
    return {"run_name": cfg.run_name, "task": cfg.task.name, "data": cfg.data.name, "model": spec.name,
            "family": spec.family, "params": counts["params_total"], "params_trainable": counts["params_trainable"],
            "seed": cfg.seed, "overrides": _overrides(),
            "optimized_metric": cfg.task.optimized_metric if cfg.train else None,  # train=false optimizes nothing
            "optimized_mode": OmegaConf.select(cfg, "task.mode", default="max"),
            "train_time_s": round(train_time, 1), "test_checkpoint": metrics.get("test_checkpoint"),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, float)}}


def _test_block(cfg: DictConfig, module, datamodule, metrics: dict) -> dict:
    """``metrics`` (bootstrap point values over the logged ones), ``ci95``, ``baselines``, ``best_baseline``: the
    task's test evaluation resampled by admission."""
    try:
        evaluation = module.test_evaluation(datamodule)
    except NotImplementedError as error:
        log.warning("%s: summary.json gets no intervals or baselines", error)
        return {"ci95": {}, "baselines": {}, "best_baseline": None}
    start = time.perf_counter()
    block = evaluation.summarize(n_resamples=int(OmegaConf.select(cfg, "bootstrap.n_resamples", default=1000)),
                                 seed=int(OmegaConf.select(cfg, "bootstrap.seed", default=0)))
    admissions = len(set(evaluation.groups.tolist()))
    log.info("test bootstrap: %d rows of %d admissions, %d resamples in %.1f s", len(evaluation.groups), admissions,
             int(OmegaConf.select(cfg, "bootstrap.n_resamples", default=1000)), time.perf_counter() - start)
    return {**block, "metrics": {**metrics, **block["metrics"]},
            "test_rows": {"scored": len(evaluation.groups), "admissions": admissions}}


def test_table(summary: dict) -> str:
    """Model and every baseline on each test metric with 95% intervals, then model − best baseline (plain text)."""
    lines = [pd.DataFrame(test_rows(summary)).set_index("").to_string()]
    best = best_baseline_line(summary)
    return "\n".join(lines + ([best] if best else []))


def _wandb_summary(summary: dict) -> dict:
    """Intervals, baselines and the best-baseline delta as flat W&B summary keys (numbers only, no event text)."""
    flat = {f"{k}_ci95": v for k, v in summary["ci95"].items()}
    for name, values in summary["baselines"].items():
        flat.update({f"baseline/{name}/{k}": v for k, v in values.items() if k != "ci95"})
        flat.update({f"baseline/{name}/{k}_ci95": v for k, v in values["ci95"].items()})
    if summary["best_baseline"]:
        flat.update({f"best_baseline/{k}": v for k, v in summary["best_baseline"].items()})
    return flat


def _write_summary(cfg: DictConfig, summary: dict, loggers: list[Logger]) -> None:
    out = Path(_output_dir(cfg))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary)
    log.info("%s · %s · %s: trained %.0f s; summary in %s", cfg.task.name, summary["model"], cfg.data.name,
             summary["train_time_s"], out / "summary.json")
    if summary.get("ci95"):
        log.info("test metrics with 95%% bootstrap intervals (resampled by admission):\n%s", test_table(summary))
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.summary.update(_wandb_summary(summary))
    else:
        for name, value in sorted(summary["metrics"].items()):
            if name.startswith("test/"):
                log.info("  %-28s %.4f", name, value)
