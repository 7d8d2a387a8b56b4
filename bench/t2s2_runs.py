"""Downstream tasks on real timelines: ``python train.py experiment=t2s2_<task> name=t2s2_<task>`` for relation,
nextevent and forecast on the T2S2 case reports (data=t2s2), as users run them; each run's summary.json (the model
and every baseline on the same test rows with admission-bootstrap 95% intervals, model − best baseline, rows scored)
is kept in logs/bench/t2s2_runs.json with the wall and CPU time and the machine's load, from which
``python bench/tables.py`` fills the "Real timelines" section of docs/training.md.

    python bench/t2s2_runs.py [--runs relation,nextevent,forecast] [--log-dir logs] [--note TEXT] [-- OVERRIDES]

Runs named in ``--runs`` replace their entry in the result file; the others are kept. The default log dir is the
project's, so the run folders are ``logs/train/runs/t2s2_<task>`` (a finished run is not run again: remove its
folder or pass ``--log-dir``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_io import RESULTS, machine, write_result
from demo_runs import chosen_runs, earlier_runs, timed_run

ROOT = Path(__file__).resolve().parents[1]
RESULT = RESULTS / "t2s2_runs.json"
RUNS = {task: [f"experiment=t2s2_{task}", f"name=t2s2_{task}"] for task in ("relation", "nextevent", "forecast")}
KEEP = ("task", "data", "model", "family", "params", "train_time_s", "overrides", "test_checkpoint", "test_rows",
        "metrics", "ci95", "baselines", "best_baseline", "also_compared", "warnings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs")
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile (kept with each run)")
    parser.add_argument("extra", nargs="*", help="overrides added to every run (after --)")
    args = parser.parse_args()
    for key in chosen_runs(parser, args.runs, RUNS):
        entry = {**timed_run(RUNS[key], args.log_dir, args.extra, KEEP), "machine": machine(), "note": args.note}
        write_result(RESULT, {"runs": {**earlier_runs(RESULT), key: entry}})
        job = entry["jobs"][0]
        best = job["best_baseline"] or {}
        metric = best.get("metric_name", "")
        print(f"{key:<10} {job['model']:<18} {metric} {job['metrics'].get(metric, float('nan')):.3f} "
              f"{job['ci95'].get(metric)}  {best.get('name')} {best.get('value', float('nan')):.3f}  "
              f"Δ {best.get('delta', float('nan')):+.3f} {best.get('delta_ci95')}  ({entry['wall_s']:.0f} s wall)")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
