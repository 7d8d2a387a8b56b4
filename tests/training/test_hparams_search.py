"""Hyperparameter search with Hydra's Optuna sweeper (``hparams_search=…``): every search config composes with
train.py's config and searches keys that exist, on a validation objective in the task's direction; train.py's
objective (``cts.training.run.objective``) is None, with a warning naming the metric, when the metric is missing or
not finite — which the installed plugin records as a failed trial and goes on (a NaN would stop the search); and a
real three-trial search in which one choice names a metric that does not exist ends with exit 0, that trial listed
failed in the sweep report and the chosen point recorded."""

import logging
import math

import optuna
import pandas as pd
import pytest
import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution

from cts.training.run import objective
from tests.training.helpers import ROOT, compose_train, run_cli, tiny

SEARCHES = sorted(p.stem for p in (ROOT / "conf" / "hparams_search").glob("*.yaml"))
DIRECTION = {"min": "minimize", "max": "maximize"}


def test_there_is_a_search_for_the_forecast_demo():
    assert "demo_forecast_optuna" in SEARCHES


@pytest.mark.parametrize("search", SEARCHES)
def test_every_search_composes_and_searches_existing_keys_on_validation(search, tmp_path):
    cfg = compose_train([f"hparams_search={search}", f"paths.cache_dir={tmp_path}"], tmp_path)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.sampler.seed is not None  # reproducible trials
    assert cfg.task.optimized_metric.startswith("val/"), "select on validation, never on test"
    assert sweeper.direction == DIRECTION[cfg.task.mode], "the direction follows the task's mode"
    assert cfg.name == search and sweeper.n_jobs == 1 and sweeper.n_trials >= 8
    space, fixed = create_params_from_overrides([f"{key}={value}" for key, value in sweeper.params.items()])
    assert not fixed and space and all(isinstance(d, BaseDistribution) for d in space.values())
    missing = object()
    assert [key for key in space if OmegaConf.select(cfg, key, default=missing) is missing] == []  # no typo'd key
    for key, distribution in space.items():  # every point of the space composes (choices; interval ends)
        values = getattr(distribution, "choices", None) or (distribution.low, distribution.high)
        for value in values:
            point = compose_train([f"hparams_search={search}", f"{key}={value}"], tmp_path)
            assert OmegaConf.select(point, key) == value


def test_search_for_the_demo_forecast_runs_demo_forecast_gpt(tmp_path):
    cfg = compose_train(["hparams_search=demo_forecast_optuna"], tmp_path)
    assert (cfg.task.name, cfg.model.family, cfg.model.preset, cfg.data.name) == ("forecast", "gpt", "tiny", "demo")
    assert (cfg.task.optimized_metric, cfg.hydra.sweeper.direction) == ("val/loss_best", "minimize")
    assert cfg.hydra.sweep.dir.endswith("train/multiruns/demo_forecast_optuna")  # stable: name=
    assert "task.datamodule.event_tokens" not in cfg.hydra.sweeper.params  # it changes the loss's unit (tokens)


def _cfg(metric="val/loss_best", train=True):
    return OmegaConf.create({"train": train, "task": {"optimized_metric": metric}})


def test_objective_is_the_optimized_validation_metric():
    assert objective(_cfg(), {"val/loss_best": 1.5, "test/loss": 0.1}) == 1.5


@pytest.mark.parametrize("metrics,what", [({"val/loss": 2.0}, "missing"), ({"val/loss_best": math.nan}, "is nan"),
                                          ({"val/loss_best": math.inf}, "is inf"),
                                          ({"val/loss_best": "12"}, "is not a number")])
def test_objective_is_none_with_a_warning_when_missing_or_not_finite(metrics, what, caplog):
    metrics = {**metrics, "test_checkpoint": "/runs/x/checkpoints/best.ckpt", "test/loss": 1.0}
    with caplog.at_level(logging.WARNING, logger="cts.training.run"):
        assert objective(_cfg(), metrics) is None
    message = caplog.text
    assert f"objective val/loss_best {what}" in message and "test/loss" in message
    assert "best.ckpt" not in message and "12" not in message.split("logged")[1]  # names, never values or text


def test_objective_of_an_evaluation_only_run_is_none_silently(caplog):
    with caplog.at_level(logging.WARNING):
        assert objective(_cfg(train=False), {"test/loss": 1.0}) is None
    assert not caplog.records


class _Launcher:
    """Returns the given values as completed jobs, one per trial, in order."""

    def __init__(self, values):
        self.values, self.launched = list(values), []

    def launch(self, overrides, initial_job_idx):
        self.launched += overrides
        return [JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=self.values.pop(0))
                for o in overrides]


def _sweep(values, tmp_path):
    sweeper = OptunaSweeperImpl(optuna.samplers.TPESampler(seed=0), "minimize", None, "t", len(values), 1, 0.0, None,
                                None, OmegaConf.create({"x": "choice(1,2,3)"}))
    sweeper.config, sweeper.hydra_context, sweeper.job_idx = OmegaConf.create({"hydra": {"sweep": {
        "dir": str(tmp_path)}}}), object(), 0
    sweeper.launcher = _Launcher(values)
    sweeper.sweep(arguments=[])
    return sweeper


def test_the_installed_optuna_sweeper_fails_a_none_trial_and_goes_on(tmp_path):
    """Why objective returns None, not NaN: with this plugin and optuna, None fails one trial and the search goes on;
    NaN stops it (optuna refuses the NaN, the plugin retells the failure with the NaN, which raises)."""
    sweeper = _sweep([2.0, None, 1.0], tmp_path)
    assert len(sweeper.launcher.launched) == 3
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["best_value"] == 1.0
    with pytest.raises(ValueError, match="Values cannot be specified when state is"):
        _sweep([2.0, math.nan, 1.0], tmp_path / "nan")


@pytest.mark.e2e
def test_a_search_lists_a_trial_without_objective_as_failed_and_goes_on(train_data, tmp_path):
    """Three trials (tiny GPT-2, two batches): the command line adds a choice of objective, one of which no run
    logs; the trials that drew it are failed in Optuna and in the sweep report, the others are the table."""
    args = ["-m", "hparams_search=demo_forecast_optuna", "hydra.sweeper.n_trials=3", "name=search",
            "task.optimized_metric=choice(val/loss_best,val/absent_best)", "logger=none", "bootstrap.n_resamples=20",
            *(o for o in tiny(train_data, "forecast", tmp_path, "gpt")[2:] if not o.startswith("data.batch_size="))]
    done = run_cli(*args, timeout=300)
    sweep = tmp_path / "logs" / "train" / "multiruns" / "search"
    jobs = {p.name: yaml.safe_load((p / ".hydra" / "overrides.yaml").read_text())
            for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert len(jobs) == 3
    absent = sorted(name for name, overrides in jobs.items() if "task.optimized_metric=val/absent_best" in overrides)
    assert 0 < len(absent) < 3, "the search's seed draws both objectives in its three trials (a fixed value of a " \
        "searched key, e.g. data.batch_size=8, changes the draws)"
    assert "objective val/absent_best missing" in done.stdout + done.stderr  # train.py's warning
    table = pd.read_csv(sweep / "summary.csv")
    assert sorted(table["job"]) == sorted(set(jobs) - set(absent)) and table["optimized"].notna().all()
    report = (sweep / "summary.md").read_text()
    failed = report.split("## Failed")[1]
    assert all(name in failed for name in absent) and failed.count("objective val/absent_best missing") == len(absent)
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_params"]["task.optimized_metric"] == "val/loss_best"
    search = report.split("## Search")[1].split("## Jobs")[0]
    assert "TPESampler (seed 1234), 3 trials, direction minimize" in search
    assert "tag(log, interval(3e-4, 1e-2))" in search and "choice(val/loss_best,val/absent_best)" in search
    assert f"val/loss_best = {results['best_value']:.6g}" in search
    assert "<h2>Search</h2>" in (sweep / "summary.html").read_text()
