"""The sweep report, built only from the ``summary.json`` files runs write (their contract: docs/training.md, top).

``python -m cts.reports sweep SWEEP_DIR`` (also run when a multirun ends: ``SweepSummary``, a Hydra callback of
train.py) writes into SWEEP_DIR:

- ``summary.csv`` / ``summary.md``: one row per finished job — the overrides that vary across the sweep, the
  optimized metric (the table is sorted by it), the task's headline test metric with its 95% interval, the best
  baseline and model − best baseline with its paired interval; the jobs without a readable ``summary.json``
  (failed, or still running) and those whose objective (``optimized_metric``) is missing or NaN are listed under
  the table as failed, with the reason.
- A "Search" section (``summary.md`` and ``summary.html``) when the sweep was a search that wrote
  ``optimization_results.yaml`` (hydra-optuna-sweeper): the search space (``hydra.sweeper.params`` and the
  command line's sweep overrides, from ``multirun.yaml``, which ``SweepSummary`` writes when the sweep ends),
  the sampler, the number of trials, the chosen point (Optuna's best parameters, its objective value and the job
  that ran it).
- ``summary_seeds.csv`` (and a section of ``summary.md``) when ``seed`` varies: the jobs grouped by their other
  overrides, mean ± std over seeds of each number, and the interval of model − best baseline averaged over seeds
  (seeds are scored on the same test rows with the same bootstrap resamples, so their bounds are comparable).
- ``summary.png``: the headline test metric of each job (of each setting, averaged over seeds, when seed varies)
  with its 95% interval, the best baseline as a line; ``summary.html``: the tables and that figure in one
  self-contained page.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cts.io import output_set, write_csv, write_text
from cts.reports import escape, html, markdown
from cts.viz import figures

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
SEARCH_RESULTS = "optimization_results.yaml"  # written by hydra-optuna-sweeper when its search ends
MULTIRUN_CONFIG = "multirun.yaml"  # the sweep's composed config (Hydra's basic sweeper, and SweepSummary at start)


def _key_value(override: str) -> tuple[str, str]:
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


def _job_overrides(job: Path, summary: dict | None) -> dict[str, str]:
    """A job's overrides: from its summary, else (a failed job) from Hydra's ``.hydra/overrides.yaml``."""
    if summary is not None:
        overrides = summary.get("overrides", [])
    else:
        path = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(path.read_text()) or [] if path.exists() else []
    return dict(_key_value(str(o)) for o in overrides)


def read_sweep(sweep_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(finished, failed): a job folder's summary (with ``job`` and parsed ``override_values``), or for a job
    without a readable summary or a usable objective its name, overrides and why."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such sweep directory")
    finished, failed = [], []
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        read_job(job, finished, failed)
    return finished, failed


def read_job(job: Path, finished: list[dict], failed: list[dict]) -> None:
    """Append a run folder's summary (with ``job`` and ``override_values``) to ``finished``, or to ``failed`` its
    name, overrides and why it has no readable summary or no objective to rank it by."""
    path = job / SUMMARY
    try:
        summary = json.loads(path.read_text())
        reason = None if "metrics" in summary else f"{SUMMARY} has no 'metrics'"
    except FileNotFoundError:
        summary, reason = None, f"no {SUMMARY} (failed or still running)"
    except json.JSONDecodeError as error:
        summary, reason = None, f"{SUMMARY} unreadable: {error}"
    if reason:
        failed.append({"job": job.name, "reason": reason, "override_values": _job_overrides(job, None)})
    elif reason := objective_problem(summary):
        failed.append({"job": job.name, "reason": reason, "override_values": _job_overrides(job, summary)})
    else:
        finished.append({**summary, "job": job.name, "override_values": _job_overrides(job, summary)})


def objective_problem(summary: dict) -> str | None:
    """Why a finished run cannot be ranked on its objective (``optimized_metric`` missing from its metrics, or NaN:
    written as null), or None; a run that optimized nothing (``optimized_metric`` null: ``train=false``) can be."""
    name = summary.get("optimized_metric")
    if not name:
        return None
    if name not in summary["metrics"]:
        return f"objective {name} missing"
    value = summary["metrics"][name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"objective {name} is NaN"
    return None


def varying_keys(jobs: list[dict]) -> list[str]:
    """Override keys whose value is not the same in every job (a key missing from a job counts as a value)."""
    keys = sorted({key for job in jobs for key in job["override_values"]})
    return [key for key in keys if len({job["override_values"].get(key) for job in jobs}) > 1]


def job_table(finished: list[dict], keys: list[str]) -> pd.DataFrame:
    """One row per finished job, sorted by the optimized metric (best first)."""
    rows = []
    for summary in finished:
        optimized = summary.get("optimized_metric")
        best = summary.get("best_baseline") or {}
        headline = best.get("metric_name")
        row = {"job": summary["job"], **{key: summary["override_values"].get(key) for key in keys},
               "model": summary.get("model"), "params": summary.get("params"),
               "train_time_s": summary.get("train_time_s")}
        if optimized:
            row["optimized_metric"], row["optimized"] = optimized, summary["metrics"].get(optimized)
        if headline:
            lo, hi = (summary.get("ci95") or {}).get(headline) or (None, None)
            delta_lo, delta_hi = best.get("delta_ci95") or (None, None)
            row.update({"metric": headline, "value": summary["metrics"].get(headline), "lo": lo, "hi": hi,
                        "best_baseline": best.get("name"), "baseline_value": best.get("value"),
                        "delta": best.get("delta"), "delta_lo": delta_lo, "delta_hi": delta_hi})
        row["_higher"] = summary.get("optimized_mode", "max") == "max"
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "optimized" in frame:
        higher = bool(frame["_higher"].iloc[0])
        frame = frame.sort_values("optimized", ascending=not higher, na_position="last", kind="stable")
    return frame.drop(columns="_higher").reset_index(drop=True)


def seed_table(jobs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Jobs grouped by their varying overrides other than ``seed``: mean and std over seeds of every number, the
    averaged interval of model − best baseline."""
    groups = [key for key in keys if key != "seed"]
    numbers = [c for c in ("optimized", "value", "baseline_value", "delta") if c in jobs]
    grouped = jobs.fillna({key: "" for key in groups}).groupby(groups or (lambda _: "all"), sort=False)
    table = grouped[numbers].agg(["mean", "std"])
    table.columns = [f"{name}_{stat}" for name, stat in table.columns]
    table.insert(0, "seeds", grouped.size())
    if "delta_lo" in jobs:
        table["delta_lo_mean"], table["delta_hi_mean"] = grouped["delta_lo"].mean(), grouped["delta_hi"].mean()
    return table.reset_index() if groups else table.reset_index(drop=True)


def comparison_rows(jobs: pd.DataFrame, keys: list[str]) -> tuple[str, list[tuple]]:
    """(headline metric, ``(label, value, lo, hi)`` per job — per setting averaged over seeds when seed varies,
    ordered by the setting's best job) in ``jobs``' order (best first), for the jobs scored on the sweep's most
    common headline metric."""
    metric = jobs["metric"].mode().iloc[0]
    jobs = jobs[jobs["metric"] == metric]
    groups = [key for key in keys if key != "seed"]

    def label(row) -> str:
        return ", ".join(f"{key}={row[key]}" for key in groups if pd.notna(row[key])) or "all"

    if "seed" in keys:
        grouped = jobs.fillna({key: "" for key in groups}).groupby(groups or (lambda _: "all"), sort=False)
        means = grouped[["value", "lo", "hi"]].mean().assign(seeds=grouped.size())
        means = means.reset_index() if groups else means.reset_index(drop=True)
        rows = [(f"{label(row)} ({int(row['seeds'])} seed{'s' if row['seeds'] > 1 else ''})", row["value"],
                 row["lo"], row["hi"]) for _, row in means.iterrows()]
    else:
        rows = [(label(row) if groups else row["job"], row["value"], row["lo"], row["hi"])
                for _, row in jobs.iterrows()]
    return metric, [(name, _number(value), _number(lo), _number(hi)) for name, value, lo, hi in rows]


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def write_comparison_figure(jobs: pd.DataFrame, keys: list[str], path: Path, sweep: str) -> Path | None:
    """``summary.png`` (see the module doc); None when no job has a headline metric with a value."""
    if "metric" not in jobs or jobs["metric"].isna().all():
        return None
    metric, rows = comparison_rows(jobs, keys)
    same = jobs[jobs["metric"] == metric]
    single = same["best_baseline"].nunique() == 1
    reference = float(same["baseline_value"].mean()) if single else None
    title = f"{sweep}: {metric} (95% interval{', mean over seeds' if 'seed' in keys else ''})"
    figure = figures.interval_bars_figure(rows, title, metric, reference,
                                          f"best baseline: {same['best_baseline'].iloc[0]}" if single else "")
    return figures.save_figure(figure, path)


def search_record(sweep_dir: Path, finished: list[dict]) -> tuple[str, pd.DataFrame] | None:
    """The "Search" section: (a line naming the sampler, trials, direction and the chosen point's objective value
    and job; one row per searched parameter with its space and chosen value), or None when the sweep dir holds no
    ``optimization_results.yaml``."""
    path = sweep_dir / SEARCH_RESULTS
    if not path.exists():
        return None
    results = yaml.safe_load(path.read_text()) or {}
    sweeper = _sweeper_settings(sweep_dir)
    space = search_space(sweeper.get("params") or {}, sweeper.get("_task_overrides") or [])
    best = results.get("best_params") or {}
    chosen = next((job for job in finished if all(_same(value, job["override_values"].get(key))
                                                   for key, value in best.items())), None) if best else None
    sampler = sweeper.get("sampler") or {}
    seed = f" (seed {sampler['seed']})" if sampler.get("seed") is not None else ""
    objective, value = (chosen.get("optimized_metric") if chosen else None) or "objective", results.get("best_value")
    line = (f"{results.get('name', 'search')}: {str(sampler.get('_target_', '?')).rsplit('.', 1)[-1]}{seed}, "
            f"{sweeper.get('n_trials', '?')} trials, direction {sweeper.get('direction', '?')}; chosen point: "
            f"{objective} = {f'{value:.6g}' if isinstance(value, float) else value}"
            + (f" (job {chosen['job']})" if chosen else ""))
    rows = [{"parameter": key, "search space": space.get(key, "(not recorded)"),
             "chosen": str(best[key]) if key in best else ""} for key in [*space, *(k for k in best if k not in space)]]
    return line, pd.DataFrame(rows, columns=["parameter", "search space", "chosen"])


def _sweeper_settings(sweep_dir: Path) -> dict:
    """``hydra.sweeper`` of the sweep's config (``multirun.yaml``, else a job's ``.hydra/hydra.yaml``), with the
    command line's task overrides as ``_task_overrides`` (a job's file holds its own concrete ones instead)."""
    candidates = [sweep_dir / MULTIRUN_CONFIG, *sorted(sweep_dir.glob("*/.hydra/hydra.yaml"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return {}
    hydra_node = (yaml.safe_load(path.read_text()) or {}).get("hydra") or {}
    overrides = (hydra_node.get("overrides") or {}).get("task") or [] if path.name == MULTIRUN_CONFIG else []
    return {**(hydra_node.get("sweeper") or {}), "_task_overrides": overrides}


def search_space(params: dict, overrides: list[str]) -> dict[str, str]:
    """Parameter → its space as typed: ``hydra.sweeper.params``, then the command line's overrides as the Optuna
    sweeper reads them (a sweep such as ``choice(a,b)`` adds or replaces a parameter, a plain value fixes it)."""
    space = {str(key): str(value) for key, value in params.items()}
    for text, override in zip(overrides, OverridesParser.create().parse_overrides(overrides)):
        key, value = _key_value(text)
        if override.is_sweep_override():
            space[key] = value
        else:
            space.pop(key, None)
    return space


def _same(value, text: str | None) -> bool:
    """An Optuna parameter value and a job's override text name the same value (``1e-3`` and ``0.001`` do)."""
    if text is None:
        return False
    if str(value) == text:
        return True
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False


def write_sweep_report(sweep_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Write summary.csv/.md/.html/.png (and summary_seeds.csv when seed varies), together: a failure leaves the
    previous report whole; returns the tables written."""
    sweep_dir = Path(sweep_dir)
    finished, failed = read_sweep(sweep_dir)
    keys = varying_keys(finished + failed)
    counts = f"{len(finished)} finished, {len(failed)} failed job(s)."
    lines = [f"# Sweep {escape.markdown(sweep_dir.name)}", "", counts, ""]
    tables, search = {}, search_record(sweep_dir, finished)
    if search:
        tables["search"] = search[1]
        lines += ["## Search", "", escape.markdown(search[0]), "", markdown.rounded_table(search[1]), ""]
    replaced = [sweep_dir / name for name in ("summary.csv", "summary_seeds.csv", "summary.png")]
    with output_set(sweep_dir, replace=replaced, last=["summary.html"]) as staged:
        if finished:
            tables["jobs"] = job_table(finished, keys)
            write_csv(tables["jobs"], staged / "summary.csv")
            lines += ["## Jobs (best first)", "", markdown.rounded_table(tables["jobs"]), ""]
            if "seed" in keys:
                tables["seeds"] = seed_table(tables["jobs"], keys)
                write_csv(tables["seeds"], staged / "summary_seeds.csv")
                lines += ["## Over seeds (mean, std; delta interval averaged over seeds)", "",
                          markdown.rounded_table(tables["seeds"]), ""]
        if failed:
            tables["failed"] = pd.DataFrame([{"job": f["job"], "reason": f["reason"],
                                              **{k: f["override_values"].get(k) for k in keys}} for f in failed])
            lines += ["## Failed", "", markdown.rounded_table(tables["failed"]), ""]
            log.warning("%s: %d failed job(s): %s", sweep_dir, len(failed),
                        "; ".join(f"{f['job']} ({f['reason']})" for f in failed))
        text = "\n".join(lines)
        write_text(staged / "summary.md", text)
        picture = write_comparison_figure(tables["jobs"], keys, staged / "summary.png", sweep_dir.name) \
            if finished else None
        parts = [html.section(title, *([html.paragraph(search[0])] if name == "search" else []),
                              html.table(tables[name].round(4).to_dict("records")))
                 for name, title in (("search", "Search"), ("jobs", "Jobs (best first)"),
                                     ("seeds", "Over seeds (mean, std; delta interval averaged over seeds)"),
                                     ("failed", "Failed")) if name in tables]
        html.write_page(staged / "summary.html", f"Sweep {sweep_dir.name}",
                        ([html.figure(picture, "headline test metric per job")] if picture else []) + parts, counts)
    print(f"\nsweep summary ({sweep_dir / 'summary.md'}):\n\n{text}")
    return tables


class SweepSummary(Callback):
    """Writes the sweep report when a multirun ends (all launchers, SLURM included); failed jobs are listed. First
    it records the sweep's config as ``multirun.yaml``: Hydra's basic sweeper writes the same file when it starts,
    the Optuna sweeper none, and only there is a search space given on the command line kept."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_text(sweep_dir / MULTIRUN_CONFIG, OmegaConf.to_yaml(config))
        write_sweep_report(sweep_dir)
