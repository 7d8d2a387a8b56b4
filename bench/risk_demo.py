"""Risk task on the demo, as users run it: ``python train.py task=risk outcome=...`` per outcome, and the family
comparison ``python train.py -m task=risk model=bert,gpt``; each run's summary.json (test AUROC/AUPRC/Brier of the
model and the baselines with admission-bootstrap 95% intervals) is kept in logs/bench/risk_demo.json with the
wall time, the CPU time of the run and the machine's load, from which ``python bench/tables.py`` fills docs.

    python bench/risk_demo.py [--runs mortality,los7,readmission30,gpt,families] [--log-dir logs/bench] [-- OVERRIDES]

Runs named in ``--runs`` replace their entry in the result file; the others are kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_io import RESULTS, machine, write_result
from demo_runs import LARGE_DEMO, chosen_runs, earlier_runs, timed_run

ROOT = Path(__file__).resolve().parents[1]
RESULT = RESULTS / "risk_demo.json"
RUNS = {"mortality": ["task=risk", "name=bench-risk-mortality"],
        "los7": ["task=risk", "outcome=los7", "name=bench-risk-los7"],
        "readmission30": ["task=risk", "outcome=readmission30", "name=bench-risk-readmission30"],
        "gpt": ["task=risk", "model=gpt", "name=bench-risk-gpt"],
        "families": ["-m", "task=risk", "model=bert,gpt", "name=bench-risk-families"],
        # the 5,000-admission demo, every train admission (data.max_rows caps the default demo's splits at 1,600)
        **{f"{outcome}_large": ["task=risk", f"outcome={outcome}", *LARGE_DEMO, "data.max_rows=null",
                                f"name=bench-risk-{outcome}-large"]
           for outcome in ("mortality", "los7", "readmission30")}}
KEEP = ("model", "family", "params", "params_trainable", "train_time_s", "overrides", "metrics", "ci95", "baselines",
        "best_baseline", "ceiling", "gap_closed")


def run(key: str, log_dir: Path, extra: list[str]) -> dict:
    return timed_run(RUNS[key], log_dir, extra, KEEP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="mortality,los7,readmission30,families",
                        help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "logs" / "bench")
    parser.add_argument("extra", nargs="*", help="overrides added to every run (after --)")
    args = parser.parse_args()
    for key in chosen_runs(parser, args.runs, RUNS):
        entry = run(key, args.log_dir, args.extra)
        result = {"machine": machine(), "runs": {**earlier_runs(RESULT), key: entry}}
        write_result(RESULT, result)  # after each run: a later failure keeps the finished ones
        for job in result["runs"][key]["jobs"]:
            best = job["best_baseline"] or {}
            print(f"{key:<14} {job['model']:<18} test/auroc {job['metrics'].get('test/auroc', float('nan')):.3f} "
                  f"{job['ci95'].get('test/auroc')}  {best.get('name')} {best.get('value', float('nan')):.3f}  "
                  f"({result['runs'][key]['wall_s']:.0f} s wall, {result['runs'][key]['cpu_s']:.0f} s CPU)")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
