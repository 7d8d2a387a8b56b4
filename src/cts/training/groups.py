"""Where train.py's config groups meet, so that none reads another's keys: the data group's settings reach the task's
datamodule here, and the task's monitored metric the callbacks that watch one. A data setting that the chosen task
does not read, given on the command line or by an experiment, is refused in one line instead of measuring nothing.

The data group's own keys say where the task dataset is and how to build it (``name``, ``dir``, ``tasks_dir``,
``build``); ``per_task.<task>`` holds settings for one task over the group's others (the demo caps relation pairs
apart); every other key is a keyword of the datamodules that read it (``batch_size``, ``max_rows``, ``fold``, …).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from cts.config import ConfigError, repository_root

OWN = ("name", "dir", "tasks_dir", "build")


def data_dir(cfg: DictConfig) -> Path:
    """``data.dir``, or ``<data.tasks_dir>/<task>`` when it is null (a corpus with a folder per task)."""
    if cfg.data.dir is None:
        return Path(cfg.data.tasks_dir) / cfg.task.name
    return Path(cfg.data.dir)


def keywords(cls: type) -> set[str]:
    """The keyword arguments ``cls(...)`` takes: its ``__init__``'s, and its bases' while they pass ``**kwargs`` on."""
    names: set[str] = set()
    for base in cls.__mro__:
        if "__init__" not in vars(base):
            continue
        parameters = inspect.signature(base.__init__).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def data_settings(cfg: DictConfig, given: Iterable[str] = ()) -> dict:
    """The task datamodule's keywords from the data group: ``data_dir``, ``build`` (missing task data made on first
    use, when the datamodule builds and the group says how) and each data key it reads, ``per_task.<task>`` over the
    rest. ``given``: data keys set by the command line or an experiment (``max_rows``, ``per_task.relation``); one
    the datamodule does not read is a :class:`ConfigError`."""
    task = cfg.task.name
    reads = keywords(hydra.utils.get_class(cfg.task.datamodule._target_))
    general = {k: v for k, v in cfg.data.items() if k not in (*OWN, "per_task")}
    own = dict((cfg.data.get("per_task") or {}).get(task) or {})
    for key in given:
        name = key.split(".")[0]
        if name == "per_task":
            named = key.split(".")[1] if "." in key else None
            if named not in (None, task):
                raise ConfigError(f"data.{key}: only task={named} reads it, and this run is task={task}")
        elif name in own and name in reads:
            raise ConfigError(f"data.{key}: task={task} reads data.per_task.{task}.{name}={own[name]} instead; "
                              f"set that")
        elif name not in OWN and name not in reads:
            raise ConfigError(f"data.{key}: task={task} does not read it (its data settings: "
                              f"{', '.join(sorted(reads & set(general))) or 'none'}); remove it")
    unread = sorted(set(own) - reads)
    if unread:
        raise ConfigError(f"data.per_task.{task}.{unread[0]}: task={task} does not read it; remove it")
    settings = {k: v for k, v in {**general, **own}.items() if k in reads}
    settings["data_dir"] = str(data_dir(cfg))
    if "build" in reads:
        settings["build"] = _build(cfg) if cfg.data.get("build") is not None else None
    return settings


def instantiate_datamodule(cfg: DictConfig, spec):
    """The task's datamodule with the data group's settings for it (a setting this run gives that it does not read
    is refused first)."""
    return hydra.utils.instantiate(cfg.task.datamodule, spec=spec, **data_settings(cfg, given_keys(cfg, "data")))


def _build(cfg: DictConfig):
    """The data group's build, told which task's builder writes where."""
    builder = hydra.utils.instantiate(cfg.task.build) if cfg.task.get("build") is not None else None
    return hydra.utils.instantiate(cfg.data.build, task=cfg.task.name, builder=builder, output=str(data_dir(cfg)))


def watched_metric(cfg: DictConfig, node: DictConfig) -> dict:
    """``monitor`` and ``mode`` of the task for a checkpoint or early-stopping callback whose node names no metric
    (``monitor: null`` is a choice: the resumable last.ckpt watches none)."""
    if "monitor" in node or not issubclass(hydra.utils.get_class(node._target_), (ModelCheckpoint, EarlyStopping)):
        return {}
    return {"monitor": cfg.task.monitor, "mode": cfg.task.mode}


def given_keys(cfg: DictConfig, group: str) -> list[str]:
    """The keys under ``group.`` that this run sets: its command-line overrides (``+``/``~`` stripped) and the chosen
    experiment (with the experiments it extends)."""
    if not HydraConfig.initialized():
        return []
    hydra_cfg = HydraConfig.get()
    keys = [o.lstrip("+~").split("=", 1)[0] for o in hydra_cfg.overrides.task]
    given = [k.removeprefix(f"{group}.") for k in keys if k.startswith(f"{group}.")]
    experiment = hydra_cfg.runtime.choices.get("experiment")
    return given + (_experiment_keys(experiment, group) if experiment else [])


def _experiment_keys(choice: str, group: str) -> list[str]:
    config = OmegaConf.load(repository_root() / "conf" / "experiment" / f"{choice}.yaml")
    parents = [d for d in config.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    return _leaf_keys(config.get(group)) + [key for parent in parents for key in _experiment_keys(parent, group)]


def _leaf_keys(node, prefix: str = "") -> list[str]:
    if not isinstance(node, DictConfig) or not len(node):
        return [prefix] if prefix else []
    return [key for name in node for key in _leaf_keys(node[name], f"{prefix}.{name}" if prefix else str(name))]
