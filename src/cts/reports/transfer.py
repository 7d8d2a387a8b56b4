"""``python -m cts.reports transfer RUN_DIRS... --out DIR``: does initialising from a cts checkpoint help?

Reads only the runs' ``summary.json`` (run folders, or multirun folders whose jobs are read as the sweep report
reads them). A run is in arm ``cts`` when its overrides set ``model.init_from``, else ``base``; runs pair up by task,
``data.fold`` and seed. Written into DIR (atomically, ``cts.io``):

- ``transfer.csv``: per task, arm (and each baseline, on the same test rows) and test metric: runs, mean, std;
- ``transfer_diff.csv``: per task and metric, cts − base over the matched (fold, seed) pairs: mean, std, and a 95%
  paired t interval (none with fewer than two pairs);
- ``transfer.md`` (both tables and the runs that failed) and ``transfer.png`` (mean ± std bars).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cts.io import write_csv, write_text
from cts.reports.markdown import rounded_table
from cts.reports.sweep import SUMMARY, read_job, read_sweep
from cts.viz import figures

log = logging.getLogger(__name__)

ARMS = ("base", "cts")


def read_runs(paths) -> tuple[list[dict], list[dict]]:
    """(finished, failed) over run folders (holding ``summary.json``) and multirun folders (their jobs)."""
    finished, failed = [], []
    for path in map(Path, paths):
        if (path / SUMMARY).exists():
            read_job(path, finished, failed)
        elif path.is_dir():
            found = read_sweep(path)
            finished += found[0]
            failed += found[1]
        else:
            raise FileNotFoundError(f"{path}: no such run or multirun folder")
    return finished, failed


def run_rows(finished: list[dict]) -> pd.DataFrame:
    """One row per run and test metric (per-class F1 left out): task, arm, fold, seed, predictor, metric, value."""
    rows = []
    for summary in finished:
        overrides = summary["override_values"]
        init = overrides.get("model.init_from")
        ident = {"task": summary.get("task"), "arm": "cts" if init not in (None, "", "null") else "base",
                 "fold": overrides.get("data.fold", "0"), "seed": summary.get("seed"), "job": summary["job"]}
        names = [k for k in summary.get("ci95") or summary["metrics"] if k.startswith("test/")
                 and not k.startswith("test/f1_") and k != "test/loss"]
        for name in names:
            rows.append({**ident, "predictor": "model", "metric": name.removeprefix("test/"),
                         "value": summary["metrics"].get(name)})
            for baseline, values in (summary.get("baselines") or {}).items():
                if values.get(name) is not None:
                    rows.append({**ident, "predictor": baseline, "metric": name.removeprefix("test/"),
                                 "value": values[name]})
    return pd.DataFrame(rows, columns=["task", "arm", "fold", "seed", "job", "predictor", "metric", "value"])


def arm_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over runs of each model arm, and of each baseline over (fold, seed): a baseline is scored on the
    same test rows in both arms, so it counts once per (fold, seed), not once per arm."""
    is_model = rows["predictor"] == "model"
    labelled = rows.assign(who=np.where(is_model, rows["arm"], "baseline:" + rows["predictor"]),
                           run=np.where(is_model, rows["job"].astype(str), ""))
    labelled = labelled.drop_duplicates(["task", "who", "fold", "seed", "metric", "run"])
    table = labelled.groupby(["task", "metric", "who"], sort=True)["value"].agg(["count", "mean", "std"])
    return table.reset_index().rename(columns={"who": "arm", "count": "runs"})


def paired_differences(rows: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """cts − base per task and metric over (fold, seed) pairs present in both arms, with a paired t interval."""
    model = rows[rows["predictor"] == "model"]
    wide = model.pivot_table(index=["task", "metric", "fold", "seed"], columns="arm", values="value", aggfunc="mean")
    out = []
    if not set(ARMS) <= set(wide.columns):
        return pd.DataFrame(columns=["task", "metric", "pairs", "mean_diff", "std_diff", "lo", "hi", "p_value"])
    wide = wide.dropna(subset=list(ARMS))
    for (task, metric), part in wide.groupby(level=["task", "metric"]):
        diff = (part["cts"] - part["base"]).to_numpy(float)
        n = len(diff)
        mean, std = float(diff.mean()), float(diff.std(ddof=1)) if n > 1 else float("nan")
        if n > 1 and std > 0:
            half = stats.t.ppf(0.5 + level / 2, n - 1) * std / np.sqrt(n)
            p_value = float(stats.ttest_rel(part["cts"], part["base"]).pvalue)
        else:
            half, p_value = (0.0, float("nan")) if n > 1 else (float("nan"), float("nan"))
        out.append({"task": task, "metric": metric, "pairs": n, "mean_diff": mean, "std_diff": std,
                    "lo": mean - half, "hi": mean + half, "p_value": p_value})
    return pd.DataFrame(out)


def arm_panels(table: pd.DataFrame) -> dict:
    """``transfer.png``'s panels: per task, its metrics and each arm's (mean, std) on them (base and cts first)."""
    panels = {}
    for task in sorted(table["task"].unique()):
        part = table[table["task"] == task]
        metrics = sorted(part["metric"].unique())
        arms = {}
        for arm in sorted(part["arm"].unique(), key=lambda a: (a not in ARMS, a)):
            values = part[part["arm"] == arm].set_index("metric").reindex(metrics)
            arms[arm] = (values["mean"].to_numpy(), values["std"].fillna(0).to_numpy())
        panels[task] = (metrics, arms)
    return panels


def write_transfer_report(paths, out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Write transfer.csv, transfer_diff.csv, transfer.md, transfer.png into ``out_dir``; returns the tables."""
    out_dir = Path(out_dir)
    finished, failed = read_runs(paths)
    if not finished:
        raise ValueError(f"no finished run (summary.json) under {', '.join(map(str, paths))}")
    rows = run_rows(finished)
    table, diffs = arm_table(rows), paired_differences(rows)
    model_runs = rows[rows["predictor"] == "model"].drop_duplicates("job")
    counts = model_runs.groupby(["task", "arm"]).size().to_dict()
    write_csv(table, out_dir / "transfer.csv")
    write_csv(diffs, out_dir / "transfer_diff.csv")
    figures.save_figure(figures.grouped_bars_figure(arm_panels(table), "test (mean ± std over folds × seeds)"),
                        out_dir / "transfer.png", dpi=100)
    lines = ["# Transfer: base vs cts-initialised", "",
             f"{len(finished)} finished run(s) ({', '.join(f'{t} {a}: {n}' for (t, a), n in sorted(counts.items()))}), "
             f"{len(failed)} failed.", "", "## Test metrics (mean ± std over folds × seeds)", "",
             rounded_table(table), "",
             "## cts − base, paired by (fold, seed) (95% paired t interval)", "",
             rounded_table(diffs) if len(diffs) else "no (fold, seed) is in both arms: nothing to pair", "",
             "![bar chart](transfer.png)", ""]
    if failed:
        failures = pd.DataFrame([{"job": f["job"], "reason": f["reason"]} for f in failed])
        lines += ["## Failed", "", rounded_table(failures), ""]
    text = "\n".join(lines)
    write_text(out_dir / "transfer.md", text)
    print(f"\ntransfer report ({out_dir / 'transfer.md'}):\n\n{text}")
    return {"arms": table, "differences": diffs}
