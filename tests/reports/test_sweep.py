"""``python -m cts.reports sweep``: finished jobs summarized from summary.json alone, failed ones listed, only the
overrides that vary shown, sorted by the optimized metric, seeds aggregated (numbers worked out by hand); it also
writes summary.png (headline metric per job, or per setting over seeds, with intervals) and a self-contained
summary.html; a job whose objective is missing or NaN is listed failed, not ranked; a search (Optuna's
optimization_results.yaml) gets a Search section with its space, sampler and chosen point."""

import json
import re

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from cts.reports.__main__ import main
from cts.reports.sweep import SweepSummary, comparison_rows, job_table, read_sweep, varying_keys, write_sweep_report


def _job(sweep, name, overrides, optimized, value, delta, delta_ci):
    job = sweep / name
    job.mkdir(parents=True)
    summary = {"task": "relation", "data": "demo", "model": "all-MiniLM-L6-v2", "family": "bert", "params": 100,
               "seed": int(dict(o.split("=") for o in overrides)["seed"]), "overrides": overrides,
               "optimized_metric": "val/macro_f1_best", "optimized_mode": "max", "train_time_s": 10.0,
               "metrics": {"val/macro_f1_best": optimized, "test/macro_f1": value},
               "ci95": {"test/macro_f1": [value - 0.1, value + 0.1]},
               "baselines": {"logreg_bow": {"test/macro_f1": value - delta, "ci95": {"test/macro_f1": [0.4, 0.6]}}},
               "best_baseline": {"metric_name": "test/macro_f1", "name": "logreg_bow", "value": value - delta,
                                 "delta": delta, "delta_ci95": delta_ci}}
    (job / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def sweep(tmp_path):
    sweep = tmp_path / "sweep"
    common = ["model=bert", "trainer.max_epochs=3"]
    _job(sweep, "0_lr=1e-4,seed=1", [*common, "lr=1e-4", "seed=1"], 0.70, 0.68, 0.08, [0.02, 0.14])
    _job(sweep, "1_lr=1e-4,seed=2", [*common, "lr=1e-4", "seed=2"], 0.74, 0.66, 0.06, [0.00, 0.12])
    _job(sweep, "2_lr=5e-5,seed=1", [*common, "lr=5e-5", "seed=1"], 0.60, 0.58, -0.02, [-0.08, 0.04])
    failed = sweep / "3_lr=5e-5,seed=2"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*common, "lr=5e-5", "seed=2"]))
    (sweep / ".submitit").mkdir()  # launcher plumbing, not a job
    return sweep


def test_sweep_table_shows_varying_overrides_sorted_by_the_optimized_metric(sweep):
    tables = write_sweep_report(sweep)
    jobs = pd.read_csv(sweep / "summary.csv")
    assert list(jobs["job"]) == ["1_lr=1e-4,seed=2", "0_lr=1e-4,seed=1", "2_lr=5e-5,seed=1"]
    assert {"lr", "seed", "optimized", "value", "delta", "delta_lo", "delta_hi"} <= set(jobs.columns)
    assert "trainer.max_epochs" not in jobs  # the same in every job
    assert list(jobs["optimized"]) == [0.74, 0.70, 0.60] and set(jobs["optimized_metric"]) == {"val/macro_f1_best"}
    assert list(tables["failed"]["job"]) == ["3_lr=5e-5,seed=2"]
    markdown = (sweep / "summary.md").read_text()
    assert "3 finished, 1 failed job(s)." in markdown and "3_lr=5e-5,seed=2" in markdown.split("## Failed")[1]
    assert "| 1e-4 " in markdown and "| 5e-5 " in markdown  # override values as typed, not re-parsed numbers


def test_seeds_are_aggregated_with_mean_std_and_the_delta_interval(sweep):
    write_sweep_report(sweep)
    seeds = pd.read_csv(sweep / "summary_seeds.csv", dtype={"lr": str}).set_index("lr")
    assert list(seeds["seeds"]) == [2, 1]
    row = seeds.loc["1e-4"]
    assert row["value_mean"] == pytest.approx(0.67) and row["value_std"] == pytest.approx(0.0141421, abs=1e-6)
    assert row["delta_mean"] == pytest.approx(0.07)
    assert (row["delta_lo_mean"], row["delta_hi_mean"]) == pytest.approx((0.01, 0.13))
    assert pd.isna(seeds.loc["5e-5", "value_std"])  # one seed: no spread


def test_only_failed_jobs_still_writes_the_list(tmp_path):
    job = tmp_path / "sweep" / "0_model=gpt"
    job.mkdir(parents=True)
    (job / "summary.json").write_text("{not json")
    tables = write_sweep_report(tmp_path / "sweep")
    assert "jobs" not in tables and "unreadable" in tables["failed"]["reason"][0]
    assert not (tmp_path / "sweep" / "summary.csv").exists()
    assert "0 finished, 1 failed" in (tmp_path / "sweep" / "summary.md").read_text()


def test_cli_rebuilds_the_summary_and_rejects_a_missing_folder(sweep, capsys):
    assert main(["sweep", str(sweep)]) == 0
    assert (sweep / "summary.csv").exists() and "## Jobs" in capsys.readouterr().out
    with pytest.raises(SystemExit) as error:
        main(["sweep", str(sweep / "nope")])
    assert error.value.code == 2 and "no such sweep directory" in capsys.readouterr().err


def _png_ok(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


@pytest.fixture
def runs(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, "0_lr=1e-4,seed=1", ["lr=1e-4", "seed=1"], 0.70, 0.68, 0.08, [0.02, 0.14])
    _job(sweep, "1_lr=1e-4,seed=2", ["lr=1e-4", "seed=2"], 0.74, 0.66, 0.06, [0.00, 0.12])
    _job(sweep, "2_lr=5e-5,seed=1", ["lr=5e-5", "seed=1"], 0.60, 0.58, -0.02, [-0.08, 0.04])
    return sweep


def test_seeds_are_averaged_in_the_comparison(runs):
    finished, failed = read_sweep(runs)
    keys = varying_keys(finished + failed)
    metric, rows = comparison_rows(job_table(finished, keys), keys)
    assert metric == "test/macro_f1"
    assert rows[0][0] == "lr=1e-4 (2 seeds)" and rows[0][1:] == pytest.approx((0.67, 0.57, 0.77))
    assert rows[1] == ("lr=5e-5 (1 seed)", pytest.approx(0.58), pytest.approx(0.48), pytest.approx(0.68))


def test_without_seeds_each_job_is_a_bar(runs):
    finished, _ = read_sweep(runs)
    finished = [job for job in finished if job["override_values"]["seed"] == "1"]
    keys = varying_keys(finished)
    assert keys == ["lr"]
    _, rows = comparison_rows(job_table(finished, keys), keys)
    assert [name for name, *_ in rows] == ["lr=1e-4", "lr=5e-5"]  # best first


def test_cli_writes_the_picture_and_the_page(runs):
    assert main(["sweep", str(runs)]) == 0
    assert _png_ok(runs / "summary.png")
    page = (runs / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "3 finished, 0 failed" in page
    assert "Over seeds" in page and "1e-4" in page
    assert not re.search(r'(?:src|href)="(?!data:)', page)  # nothing to fetch


def test_only_failed_jobs_get_a_page_without_a_picture(tmp_path):
    job = tmp_path / "sweep" / "0_model=gpt"
    job.mkdir(parents=True)
    assert main(["sweep", str(tmp_path / "sweep")]) == 0
    assert not (tmp_path / "sweep" / "summary.png").exists()
    assert "0 finished, 1 failed" in (tmp_path / "sweep" / "summary.html").read_text()


def _edit_summary(job, **changes):
    path = job / "summary.json"
    summary = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "drop_metric":
            summary["metrics"].pop(value)
        else:
            summary[key] = value
    path.write_text(json.dumps(summary))


def test_a_job_without_a_finite_objective_is_listed_failed_and_the_table_stays(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, "0_lr=1e-3", ["lr=1e-3", "seed=1"], 0.70, 0.68, 0.08, [0.02, 0.14])
    _job(sweep, "1_lr=1e-2", ["lr=1e-2", "seed=1"], None, 0.50, 0.01, [-0.02, 0.04])  # NaN: written as null
    _job(sweep, "2_lr=1e-1", ["lr=1e-1", "seed=1"], 0.90, 0.40, -0.1, [-0.2, 0.0])
    _edit_summary(sweep / "2_lr=1e-1", drop_metric="val/macro_f1_best")  # the objective never logged
    _job(sweep, "3_lr=1e-4", ["lr=1e-4", "seed=1"], 0.60, 0.58, 0.0, [-0.05, 0.05])
    _edit_summary(sweep / "3_lr=1e-4", optimized_metric=None, drop_metric="val/macro_f1_best")  # train=false
    tables = write_sweep_report(sweep)
    assert list(pd.read_csv(sweep / "summary.csv")["job"]) == ["0_lr=1e-3", "3_lr=1e-4"]
    reasons = dict(zip(tables["failed"]["job"], tables["failed"]["reason"]))
    assert reasons == {"1_lr=1e-2": "objective val/macro_f1_best is NaN",
                       "2_lr=1e-1": "objective val/macro_f1_best missing"}
    assert list(tables["failed"]["lr"]) == ["1e-2", "1e-1"]  # with their overrides
    markdown = (sweep / "summary.md").read_text()
    assert "2 finished, 2 failed job(s)." in markdown and "## Search" not in markdown
    failed = markdown.split("## Failed")[1]
    assert "objective val/macro_f1_best is NaN" in failed and "objective val/macro_f1_best missing" in failed
    assert "objective val/macro_f1_best missing" in (sweep / "summary.html").read_text()


def _end_search(sweep, params, task_overrides):
    """What train.py's SweepSummary does when a search ends: record its config (multirun.yaml), write the report."""
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {
        "sweep": {"dir": str(sweep)}, "overrides": {"task": task_overrides},
        "sweeper": {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
                    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 7}, "direction": "maximize",
                    "n_trials": 3, "params": params}}}))


def test_a_search_records_its_space_sampler_and_chosen_point(runs):
    (runs / "optimization_results.yaml").write_text(yaml.safe_dump(
        {"name": "optuna", "best_params": {"lr": 0.0001, "seed": 2}, "best_value": 0.74}))
    _end_search(runs, {"lr": "choice(1e-4, 5e-5)", "model.dropout": "interval(0.0, 0.3)"},
                ["seed=choice(1,2)", "model.dropout=0.1"])  # a sweep added on the command line, a key fixed
    assert (runs / "multirun.yaml").is_file()
    tables = write_sweep_report(runs)  # again, from the files alone (python -m cts.reports sweep)
    assert tables["search"].to_dict("records") == [
        {"parameter": "lr", "search space": "choice(1e-4, 5e-5)", "chosen": "0.0001"},
        {"parameter": "seed", "search space": "choice(1,2)", "chosen": "2"}]
    markdown = (runs / "summary.md").read_text()
    search = markdown.split("## Search")[1].split("## Jobs")[0]
    line = ("optuna: TPESampler (seed 7), 3 trials, direction maximize; chosen point: val/macro_f1_best = 0.74 "
            "(job 1_lr=1e-4,seed=2)")
    assert line in search and "choice(1e-4, 5e-5)" in search and "model.dropout" not in search
    page = (runs / "summary.html").read_text()
    assert "<h2>Search</h2>" in page and line in page and "choice(1,2)" in page


def test_a_search_without_multirun_yaml_reads_a_jobs_hydra_config(runs):
    job = runs / "0_lr=1e-4,seed=1" / ".hydra"
    job.mkdir()
    job.joinpath("hydra.yaml").write_text(yaml.safe_dump({"hydra": {"sweeper": {
        "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": None}, "direction": "maximize",
        "n_trials": 5, "params": {"lr": "tag(log, interval(1e-5, 1e-3))"}}, "overrides": {"task": ["lr=1e-4"]}}}))
    (runs / "optimization_results.yaml").write_text(yaml.safe_dump(
        {"name": "optuna", "best_params": {"lr": 0.5}, "best_value": 0.1}))
    tables = write_sweep_report(runs)
    assert tables["search"].to_dict("records") == [
        {"parameter": "lr", "search space": "tag(log, interval(1e-5, 1e-3))", "chosen": "0.5"}]  # job's own lr: no
    search = (runs / "summary.md").read_text().split("## Search")[1]
    assert "optuna: RandomSampler, 5 trials, direction maximize; chosen point: objective = 0.1\n" in search
