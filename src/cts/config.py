"""How the entry points' configs are composed: the OmegaConf resolvers, registered once (when ``cts`` is imported);
where the repository is; which command-line overrides name a run; and the checks that refuse, in one line, an
override that would do nothing: a stage's setting given as a top-level key (``stage=stats name=X``), and a setting
that the chosen stage or task does not read (``stage=stats hadm_id=5``, ``task=relation outcome=los7``).

Config groups stand alone: a group reads its own keys, the shared ``paths`` and ``trainer`` (preprocess.py's and
annotate.py's ``corpus`` too: the corpus they work on, as ``paths`` says where things are) and the entry point's own
top-level settings (``seed``, ``input``, ``outcome``, …). The one group that reads others is preprocess.py's and
annotate.py's ``stage``, the step that runs, which names what it takes (``${task.build}``, ``${retrieval}``,
``${llm}``); train.py's groups meet in code (``cts.training.groups``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cts.errors import UserError
from cts.hashing import fingerprint
from cts.offline import offline_gguf, offline_model

# Overrides that say where a run is kept or what it does (train, test, resume), not what it computes: left out of
# run names, W&B groups and tags, and the overrides a summary records.
NOT_SETTINGS = ("paths.", "hydra", "ckpt_path", "name=", "logger", "train=", "test=")


def repository_root() -> Path:
    """``${cts.root:}``, under ``paths.root_dir`` (``data/``, ``logs/``, ``.cache/``): ``CTS_ROOT`` when set, else the
    checkout this package is imported from (``src/cts`` → ``../..``), so a command, a benchmark or a library call
    writes to the same places from any working directory."""
    if os.environ.get("CTS_ROOT"):
        return Path(os.environ["CTS_ROOT"]).expanduser().resolve()
    root = Path(__file__).resolve().parents[2]
    if not (root / "conf" / "train.yaml").is_file():
        raise UserError(f"cts is imported from {Path(__file__).parent}, outside a checkout of the repository (no "
                        f"{root / 'conf'}): set CTS_ROOT to the repository folder")
    return root


def _first_set(value, default):
    """``${cts.or:${input},DEFAULT}``: the user's value, or the default when it is null/empty."""
    return default if value in (None, "", "null", "None") else value


def _slurm_gres(accelerator, devices):
    """``${cts.slurm_gres:ACCELERATOR,DEVICES}``: ``gpu:N`` for a GPU trainer, null (no GPU requested) otherwise."""
    return f"gpu:{devices}" if str(accelerator).lower() in ("gpu", "cuda") else None


class ConfigError(UserError, ValueError):
    """A config value that cannot work, or a setting that would do nothing; raised before any data is read."""


class MissingSetting(ValueError):
    """A setting an experiment requires from the command line."""


def _required(key, what):
    """``${cts.required:KEY,WHAT}``: a value the command line must give (``KEY=...``); resolving it is an error that
    says so. (``???`` cannot do this in an experiment: OmegaConf's merge keeps the earlier value over ``???``.)"""
    raise MissingSetting(f"this experiment needs {key}={what} on the command line")


def setting_overrides(overrides) -> list[str]:
    """Hydra's ``key=value`` overrides less those in :data:`NOT_SETTINGS`."""
    return [o for o in overrides or [] if not o.lstrip("+~").startswith(NOT_SETTINGS)]


def run_name(name, overrides) -> str:
    """``${cts.run_name:NAME,OVERRIDES}``: ``name`` if set, else a file-safe name built from the setting overrides
    (never a timestamp, so a requeued or resumed run finds its own directory and ``last.ckpt``); long names are
    shortened with a hash."""
    if name not in (None, "", "null"):
        return str(name)
    kept = [o.lstrip("+~") for o in setting_overrides(overrides)]
    text = re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", ",".join(sorted(kept))) or "default"
    return text if len(text) <= 80 else f"{text[:63]}-{fingerprint(text)}"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("cts.root", lambda: str(repository_root()), replace=True)
    OmegaConf.register_new_resolver("cts.required", _required, replace=True)
    OmegaConf.register_new_resolver("cts.or", _first_set, replace=True)
    OmegaConf.register_new_resolver("cts.slurm_gres", _slurm_gres, replace=True)
    OmegaConf.register_new_resolver("cts.run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("cts.offline_model", offline_model, replace=True)
    OmegaConf.register_new_resolver("cts.offline_gguf", offline_gguf, replace=True)


def _stage_keys(folder: Path, name: str) -> set[str]:
    """A stage config's keys, with those of the stage configs it extends (``defaults: [annotate]``)."""
    path = folder / f"{name}.yaml"
    if not path.is_file():
        return set()
    config = OmegaConf.load(path)
    inherited = [d for d in config.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    return set(config) - {"defaults"} | {key for parent in inherited for key in _stage_keys(folder, parent)}


def misplaced_stage_key(arguments: list[str], primary: Path, stages: Path) -> str | None:
    """One line naming the key to write when a command-line key is not a setting of the entry point (``primary``,
    its YAML) but one of the chosen stage's: Hydra would say "Key 'name' is not in struct" and suggest ``+name=X``,
    which the stage never sees. None when every key is in place (Hydra reports any other mistake)."""
    config = OmegaConf.load(primary)
    groups = {next(iter(d)) if not isinstance(d, str) else d for d in config.defaults}
    top = set(config) | {group.removeprefix("optional ") for group in groups}
    overrides = [a.lstrip("+").split("=", 1) for a in arguments if "=" in a and not a.startswith(("-", "~"))]
    stage = next((value for key, value in overrides if key == "stage"),
                 next(d["stage"] for d in config.defaults if not isinstance(d, str) and "stage" in d))
    keys = _stage_keys(stages, stage)
    for key, value in overrides:
        if key.split(".")[0] not in top and key.split(".")[0] in keys:
            return f"{key}={value}: {key} is a setting of stage={stage}; write stage.{key}={value}"
    return None


# ``${key}`` or ``${key.sub}`` (not a resolver call ``${name:...}``, not a relative ``${.key}``): the top-level key read
_INTERPOLATION = re.compile(r"\$\{\s*([A-Za-z_]\w*)(?:\.\w+)*\s*\}")
ALWAYS_READ = ("paths", "seed", "trainer", "hydra")  # by the entry points' code, whatever the stage or task


def _interpolated(value) -> set[str]:
    """The top-level keys that the interpolations anywhere in ``value`` (plain containers) read."""
    if isinstance(value, dict):
        return set().union(*map(_interpolated, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_interpolated, value)) if value else set()
    return set(_INTERPOLATION.findall(value)) if isinstance(value, str) else set()


def _read_from(config: dict, root: str) -> set[str]:
    """The top-level keys that ``root`` reads, directly or through the keys it reads."""
    read, todo = set(), [root]
    while todo:
        key = todo.pop()
        if key not in read and key in config:
            read.add(key)
            todo += _interpolated(config[key])
    return read


def refuse_unread_overrides(cfg: DictConfig, reader: str, options: Path) -> None:
    """A :class:`ConfigError` for the first command-line override of a top-level key or group that some option of
    the ``reader`` group (the stage, the task; its YAMLs in ``options``) reads and this run's does not: it would do
    nothing (``stage=stats hadm_id=5``, ``stage=demo corpus=t2s2``, ``task=relation outcome=los7``)."""
    if not HydraConfig.initialized():
        return
    routed = set().union(*(_interpolated(OmegaConf.to_container(OmegaConf.load(path), resolve=False))
                           for path in options.rglob("*.yaml"))) - {*ALWAYS_READ, reader}
    config = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=False)
    read = _read_from(config, reader)
    choice = HydraConfig.get().runtime.choices.get(reader)
    for override in HydraConfig.get().overrides.task:
        key = re.split(r"[.=@]", override.lstrip("+~"), maxsplit=1)[0]
        if key in routed and key not in read:
            raise ConfigError(f"{override}: {reader}={choice} does not read {key}, so it would change nothing; "
                              f"remove it")
