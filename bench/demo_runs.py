"""Benchmark: the documented demo runs (relation with each family, and experiment=demo_gpt), measured and kept.

    python bench/demo_runs.py [--log-dir logs/bench] [-- EXTRA TRAIN OVERRIDES]

Runs ``train.py`` as a user does, reads each run's ``summary.json`` and writes logs/bench/demo_runs.json (with the
machine and its load), from which ``python bench/tables.py`` fills the table in docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_io import RESULTS, machine, write_result

ROOT = Path(__file__).resolve().parents[1]
LARGE_DEMO = ["paths.demo_dir=${paths.data_dir}/demo_5000", "data.build.n_admissions=5000"]
RUNS = {"relation": ["-m", "model=bert,gpt,llama", "name=bench-demo-relation"],
        "demo_gpt": ["experiment=demo_gpt", "name=bench-demo-gpt"],
        "demo_forecast_gpt": ["experiment=demo_forecast_gpt", "name=bench-demo-forecast-gpt"],
        # the same recipe on a second demo corpus drawn with another seed: a test set no choice was made on
        "demo_gpt_seed7": ["experiment=demo_gpt", "paths.demo_dir=${paths.data_dir}/demo_seed7", "data.build.seed=7",
                           "name=bench-demo-gpt-seed7"],
        # a 5,000-admission demo (ten times the default; its own seed-1234 draw): ~500 test admissions, so a
        # difference the default demo's 51 cannot resolve can be decided
        "relation_large": [*LARGE_DEMO, "name=bench-demo-relation-large"],
        "demo_forecast_gpt_large": ["experiment=demo_forecast_gpt", *LARGE_DEMO, "data.max_rows=20000",
                                    "name=bench-demo-forecast-gpt-large"]}  # 20,000 of its 37,956 train windows
KEEP = ("model", "family", "task", "params", "train_time_s", "metrics", "ci95", "baselines", "best_baseline",
        "also_compared", "ceiling", "gap_closed", "warnings")


def summaries(log_dir: Path, name: str) -> list[dict]:
    """The summary.json of a run (``runs/NAME``) or of each job of a sweep (``multiruns/NAME/<n>_<overrides>``), in
    job order."""
    single = log_dir / "train" / "runs" / name / "summary.json"
    if single.exists():
        return [json.loads(single.read_text())]
    jobs = sorted((log_dir / "train" / "multiruns" / name).glob("*/summary.json"),
                  key=lambda p: int(p.parent.name.split("_", 1)[0]))
    return [json.loads(p.read_text()) for p in jobs]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def chosen_runs(parser: argparse.ArgumentParser, runs: str, known) -> list[str]:
    """The comma-separated ``--runs`` names, each one of ``known`` (else the parser's usage error)."""
    keys = runs.split(",")
    unknown = [k for k in keys if k not in known]
    if unknown:
        parser.error(f"unknown run(s) {unknown}; choose from {', '.join(known)}")
    return keys


def earlier_runs(path: Path) -> dict:
    """The result file's runs as they are now: read again just before each write, so runs started one after the
    other or side by side (one ``--runs`` each) all keep their entries."""
    return json.loads(path.read_text()).get("runs", {}) if path.exists() else {}


def timed_run(overrides: list[str], log_dir: Path, extra: list[str], keep: tuple[str, ...]) -> dict:
    """``python train.py OVERRIDES`` as a user runs it (``name=`` among the overrides), timed: the command without
    ``name=``, wall and CPU seconds, the 1-minute load before and after, and the ``keep`` keys of each job's
    summary.json."""
    name = next(o.split("=", 1)[1] for o in overrides if o.startswith("name="))
    for taken in (log_dir / "train" / "runs" / name, log_dir / "train" / "multiruns" / name):
        if taken.exists():  # train.py would refuse it (or resume it): a benchmark times a fresh run
            raise SystemExit(f"{taken} holds an earlier run: delete it, or give another --log-dir")
    command = [sys.executable, str(ROOT / "train.py"), *overrides, f"paths.log_dir={log_dir}", *extra]
    load, cpu, start = os.getloadavg(), _children_cpu_s(), time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    jobs = [{k: s.get(k) for k in keep} for s in summaries(log_dir, name)]
    return {"command": "python train.py " + " ".join([o for o in overrides if not o.startswith("name=")] + extra),
            "wall_s": round(wall, 1), "cpu_s": round(_children_cpu_s() - cpu, 1),
            "load_average_before": list(load), "load_average_after": list(os.getloadavg()), "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs" / "bench")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("extra", nargs="*", help="overrides added to every run (after --)")
    args = parser.parse_args()
    output = RESULTS / "demo_runs.json"
    for key in chosen_runs(parser, args.runs, RUNS):
        run = timed_run(RUNS[key], args.log_dir, args.extra, KEEP)
        out = write_result(output, {"machine": machine(), "runs": {**earlier_runs(output), key: run}})
        print(f"{key}: wall {run['wall_s']} s → {out}")


if __name__ == "__main__":
    main()
