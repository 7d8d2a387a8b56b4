"""cts.config: the repository root found from the package (CTS_ROOT only as an override), so every command writes to
the same places from any working directory; every option of every config group composes, resolves and is read by
something, and an override that would change nothing is refused in one line."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cts.config import ConfigError, _read_from, refuse_unread_overrides, repository_root
from cts.errors import UserError
from cts.training.groups import data_settings, given_keys

ROOT = Path(__file__).resolve().parents[1]


def test_the_root_is_the_checkout_the_package_is_imported_from(monkeypatch, tmp_path):
    monkeypatch.delenv("CTS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert repository_root() == ROOT
    monkeypatch.setenv("CTS_ROOT", str(tmp_path))
    assert repository_root() == tmp_path.resolve()


def test_a_package_outside_a_checkout_asks_for_cts_root(monkeypatch, tmp_path):
    import cts.config

    monkeypatch.delenv("CTS_ROOT", raising=False)
    monkeypatch.setattr(cts.config, "__file__", str(tmp_path / "site-packages" / "cts" / "config.py"))
    with pytest.raises(UserError, match="set CTS_ROOT to the repository folder"):
        repository_root()


@pytest.mark.e2e
def test_an_entry_point_run_from_another_directory_writes_under_the_repository(demo_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = ROOT / "logs" / "preprocess" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    env = {key: value for key, value in os.environ.items() if key != "CTS_ROOT"}
    card = tmp_path / "card"
    done = subprocess.run([sys.executable, str(ROOT / "preprocess.py"), "stage=stats",
                           f"input={demo_dir / 'events_normalized.parquet'}", f"output={card}"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ours = [run for run in set(runs.iterdir()) - before if str(card) in (run / ".hydra" / "overrides.yaml").read_text()]
    try:
        assert len(ours) == 1 and (ours[0] / "preprocess.log").is_file()  # the run's log, under <root>/logs
        assert list(elsewhere.iterdir()) == [] and (card / "stats.json").is_file()
    finally:
        for run in ours:
            shutil.rmtree(run)


# -- every group option of every entry point composes, resolves, and is read -----------------------------------------
CONF = ROOT / "conf"
ENTRY_POINTS = ("train", "preprocess", "annotate")
READER = {"train": "task", "preprocess": "stage", "annotate": "stage"}  # the group whose option decides what is read


def _group_folder(entry: str, group: str) -> Path:
    return CONF / "annotate" / group if entry == "annotate" and group in ("prompt", "stage") else CONF / group


def _groups(entry: str) -> list[str]:
    """The groups of an entry point's defaults list (not hydra's own settings, nor task_defaults: chosen by task)."""
    names = [next(iter(d)) for d in OmegaConf.load(CONF / f"{entry}.yaml").defaults if isinstance(d, DictConfig)]
    groups = [name.removeprefix("optional ").split("@")[0] for name in names]
    return [g for g in groups if g not in ("hydra", "task_defaults")] + ["hydra/launcher"]


def _options(entry: str, group: str) -> list[str]:
    folder = _group_folder(entry, group)
    return sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml"))


def _compose(entry: str, overrides: list[str]) -> DictConfig:
    """The config as the entry point sees it, with Hydra's runtime set (``${hydra:...}``, the overrides)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(entry, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def _job(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=False)


def _readers(entry: str, group: str) -> list[str]:
    """The options of the entry point's reader group whose config reads ``group``."""
    if entry == "train" or group == READER[entry]:
        return [None]  # train's groups are read by its code (cts.training); the reader reads itself
    return [s for s in _options(entry, "stage") if group in _read_from(_job(_compose(entry, [f"stage={s}"])), "stage")]


CASES = [(entry, group, option) for entry in ENTRY_POINTS for group in _groups(entry)
         for option in _options(entry, group)]


@pytest.mark.parametrize("entry, group, option", CASES, ids=["-".join(case) for case in CASES])
def test_every_group_option_composes_resolves_and_is_read(entry, group, option):
    text = (_group_folder(entry, group) / f"{option}.yaml").read_text()
    required = [f"{key}=/given" for key in re.findall(r"\$\{cts\.required:([\w.]+),", text)]  # named on the CLI
    required += [f"{group}.{key}=/given" for key in re.findall(r"^(\w+): \?\?\?", text, re.MULTILINE)]
    shared = group in ("paths", "local", "hydra/launcher")
    readers = [None] if shared else _readers(entry, group)
    assert readers, f"{group}={option}: no {READER[entry]} of {entry}.py reads {group}, so choosing it changes nothing"
    stage = [f"{READER[entry]}={readers[0]}"] if readers[0] else []
    cfg = _compose(entry, [f"{group}={option}", *stage, *required])
    OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    refuse_unread_overrides(cfg, READER[entry], _group_folder(entry, READER[entry]))
    if entry == "train":
        data_settings(cfg, given_keys(cfg, "data"))  # an experiment sets no data key its task ignores


def test_a_task_sets_other_groups_only_from_its_own_file():
    assert {p.stem for p in (CONF / "task_defaults").glob("*.yaml")} <= {p.stem for p in (CONF / "task").glob("*.yaml")}


@pytest.mark.parametrize("entry, overrides, message", [
    ("preprocess", ["stage=stats", "hadm_id=5"], "hadm_id=5: stage=stats does not read hadm_id"),
    ("preprocess", ["stage=demo", "corpus=t2s2"], "corpus=t2s2: stage=demo does not read corpus"),
    ("preprocess", ["stage=notes", "task=risk"], "task=risk: stage=notes does not read task"),
    ("annotate", ["stage=evaluate", "llm=rules"], "llm=rules: stage=evaluate does not read llm"),
    ("train", ["task=relation", "outcome=los7"], "outcome=los7: task=relation does not read outcome"),
])
def test_an_override_that_would_change_nothing_is_one_line(entry, overrides, message):
    cfg = _compose(entry, overrides)
    with pytest.raises(ConfigError, match=re.escape(message)):
        refuse_unread_overrides(cfg, READER[entry], _group_folder(entry, READER[entry]))


@pytest.mark.parametrize("entry, overrides", [
    ("preprocess", ["stage=timeline", "hadm_id=5", "corpus=t2s2"]), ("preprocess", ["stage=build", "task=risk"]),
    ("annotate", ["llm=rules", "corpus=t2s2", "split=test"]), ("train", ["task=risk", "outcome=los7", "seed=3"]),
])
def test_an_override_that_is_read_passes(entry, overrides):
    refuse_unread_overrides(_compose(entry, overrides), READER[entry], _group_folder(entry, READER[entry]))


@pytest.mark.parametrize("overrides, message", [
    (["data=pubmedqa", "task=pubmedqa", "+data.max_rows=5"], "data.max_rows: task=pubmedqa does not read it"),
    (["task=nextevent", "data.labels=x"], "data.labels: task=nextevent does not read it"),
    (["data.max_rows=100"], "data.max_rows: task=relation reads data.per_task.relation.max_rows=8000 instead"),
    (["task=nextevent", "data.per_task.relation.max_rows=5"], "only task=relation reads it"),
])
def test_a_data_setting_the_task_ignores_is_one_line(overrides, message):
    cfg = _compose("train", overrides)
    with pytest.raises(ConfigError, match=re.escape(message)):
        data_settings(cfg, given_keys(cfg, "data"))


def test_the_data_group_reaches_the_datamodule_with_the_tasks_own_settings_first():
    relation, risk = _compose("train", []), _compose("train", ["task=risk", "outcome=los7"])
    assert data_settings(relation)["max_rows"] == 8000 and data_settings(risk)["max_rows"] == 1600
    assert data_settings(risk)["data_dir"] == str(ROOT / "data" / "demo" / "tasks" / "risk")
    assert risk.task.datamodule.outcome == "los7" and (risk.trainer.max_epochs, risk.test_checkpoint) == (20, "last")
    assert relation.trainer.max_epochs == 2 and relation.callbacks.early_stopping.patience == 3
    assert "max_rows" not in data_settings(_compose("train", ["data=pubmedqa", "task=pubmedqa"]))
