"""Benchmark: read + normalize + forecast windows + relation pairs, ours vs the authors' way, side by side.

    python bench/normalize.py ROWS [--baseline-rows 2000000] [--pairs-baseline-rows 200000] [--seed 0]

Generates a 22MCTS-shaped CSV of ROWS rows (cached under logs/bench/tmp/): ~85 events per admission drawn from
a large vocabulary of clinical phrases, a few percent noise events (sex letters, numbers, time expressions) and
~0.3% ``-`` times. Each side runs in its own process so peak RSS is its own. The baseline runs on the first
``--baseline-rows`` rows when ROWS is larger (the per-row Python loops take hours at 22.6M rows); ratios compare
rows per second. Prints a table and writes logs/bench/normalize.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bench_io import RESULTS, write_result

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORDS_A = ["acute", "chronic", "worsening", "mild", "severe", "recurrent", "bilateral", "left", "right", "new",
           "intermittent", "progressive", "resolved", "suspected", "persistent", "episodic", "focal", "diffuse"]
WORDS_B = ["chest pain", "dyspnea", "fever", "cough", "edema", "hypotension", "tachycardia", "anemia", "delirium",
           "nausea", "vomiting", "headache", "rash", "pneumonia", "sepsis", "hyperkalemia", "hypoglycemia", "syncope",
           "abdominal pain", "back pain", "weakness", "fatigue", "confusion", "seizure", "hematuria", "melena",
           "atrial fibrillation", "heart failure", "kidney injury", "cellulitis", "stroke", "ulcer", "effusion"]
WORDS_C = ["", " treated with vancomycin", " started on heparin", " on ceftriaxone", " after CT scan",
           " requiring intubation", " improved with diuresis", " noted on exam", " per family", " on admission labs",
           " managed with insulin", " s/p transfusion", " post-procedure", " with metoprolol", " on telemetry"]
NOISE = ["F", "M", "Female", "Male", "120", "1,200", "98.6", "3 days", "65 yo", "10:30", "4 pm", "2 weeks ago",
         "years", "fever for 2 days", "BP 130/80"]


def generate_csv(path: Path, rows: int, seed: int) -> None:
    """Write the synthetic release in chunks (vectorized; ~1 M rows per step)."""
    rng = np.random.default_rng(seed)
    adjectives, findings, qualifiers = (pa.array(w) for w in (WORDS_A, WORDS_B, WORDS_C))
    noise = pa.array([f'"{n}"' if "," in n else n for n in NOISE])  # CSV-quoted
    from cts.io import atomic_open

    hadm_next = 20_000_000
    with atomic_open(path, "wb") as out:
        out.write(b"Hadm_id,Event,Time,Time_bin\n")
        for start in range(0, rows, 1 << 20):
            n = min(1 << 20, rows - start)
            sizes = rng.poisson(85, size=n // 40 + 2).clip(5)
            hadm = np.repeat(np.arange(hadm_next, hadm_next + len(sizes)), sizes)[:n]
            hadm_next = int(hadm[-1]) + 1
            number = pa.array(rng.integers(1, 400, n).astype(str))
            event = pc.binary_join_element_wise(
                adjectives.take(pa.array(rng.integers(0, len(WORDS_A), n))),
                pc.binary_join_element_wise(findings.take(pa.array(rng.integers(0, len(WORDS_B), n))), number, " #"),
                qualifiers.take(pa.array(rng.integers(0, len(WORDS_C), n))), " ")
            is_noise = rng.random(n) < 0.04
            event = pc.if_else(pa.array(is_noise), noise.take(pa.array(rng.integers(0, len(NOISE), n))), event)
            hours = np.round(np.where(rng.random(n) < 0.3, -rng.exponential(2000, n), rng.exponential(60, n)), 1)
            hours[rng.random(n) < 0.2] = 0.0
            time_text = pc.cast(pa.array(hours), pa.string())
            time_text = pc.if_else(pa.array(rng.random(n) < 0.003), pa.scalar("-"), time_text)
            bins = pc.cast(pa.array(np.searchsorted([-60, -30, -15, 0, 15, 30, 60, 120], hours, side="right")),
                           pa.string())
            line = pc.binary_join_element_wise(pc.cast(pa.array(hadm), pa.string()), event, time_text, bins, ",")
            out.write(("\n".join(line.to_pylist()) + "\n").encode())


class Timer:
    """Wall and CPU seconds (all threads) of each stage: CPU time is the ratio to trust on a shared machine."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def __call__(self, stage: str, function, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        self.wall[stage], self.cpu[stage] = time.perf_counter() - wall, time.process_time() - cpu
        return result


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_ours(csv: Path, rows: int) -> dict:
    from cts.data.event_table import read_event_table
    from cts.data.normalize import normalize_events
    from cts.tasks.forecast.build import build_forecast_windows
    from cts.tasks.relation.build import build_relation_pairs

    timer = Timer()
    events = timer("read", read_event_table, csv)
    normalized, counts = timer("normalize", normalize_events, events)
    del events
    timer("forecast_windows", build_forecast_windows, normalized, seed=0, target="any")  # the authors' fill-in
    pairs = timer("relation_pairs", build_relation_pairs, normalized, seed=0)
    return {"rows": {k: rows for k in timer.wall}, "seconds": timer.wall, "cpu_seconds": timer.cpu,
            "peak_rss_gb": peak_rss_gb(), "normalized_rows": counts["output"], "pairs": len(pairs)}


def run_baseline(csv: Path, rows: int, pairs_rows: int) -> dict:
    import authors_baseline as authors
    import pandas as pd

    timer = Timer()
    frame = timer("read", authors.read_release, csv, nrows=rows)
    normalized = timer("normalize", authors.normalize, frame)
    timer("forecast_windows", authors.forecast_windows, normalized, seed=0)
    first_admissions = normalized["Hadm_id"].isin(pd.unique(frame["Hadm_id"].iloc[:pairs_rows]))
    timer("relation_pairs", authors.relation_pairs, normalized[first_admissions])
    counted = {"read": rows, "normalize": rows, "forecast_windows": rows, "relation_pairs": min(pairs_rows, rows)}
    return {"rows": counted, "seconds": timer.wall, "cpu_seconds": timer.cpu, "peak_rss_gb": peak_rss_gb(),
            "normalized_rows": len(normalized)}


def child(side: str, csv: Path, rows: int, pairs_rows: int) -> dict:
    command = [sys.executable, __file__, str(rows), "--side", side, "--csv", str(csv),
               "--pairs-baseline-rows", str(pairs_rows)]
    wall = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_seconds"] = time.perf_counter() - wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", type=int)
    parser.add_argument("--baseline-rows", type=int, default=2_000_000)
    parser.add_argument("--pairs-baseline-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "ours":
        print(json.dumps(run_ours(args.csv, args.rows)))
        return
    if args.side == "baseline":
        print(json.dumps(run_baseline(args.csv, args.rows, args.pairs_baseline_rows)))
        return

    csv = RESULTS / "tmp" / f"mcts_{args.rows}_{args.seed}.csv"
    if not csv.exists():
        start = time.perf_counter()
        generate_csv(csv, args.rows, args.seed)
        print(f"generated {csv} ({csv.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
    load_before = os.getloadavg()
    ours = child("ours", csv, args.rows, args.pairs_baseline_rows)
    baseline_rows = min(args.rows, args.baseline_rows)
    baseline = child("baseline", csv, baseline_rows, args.pairs_baseline_rows)
    stages = ["read", "normalize", "forecast_windows", "relation_pairs"]
    per_row = lambda side, stage, clock: side[clock][stage] / side["rows"][stage]  # noqa: E731
    print(f"\n{'stage':18} {'ours s':>8} {'ours cpu':>9} {'ours rows':>11} {'base s':>8} {'base cpu':>9} "
          f"{'base rows':>10} {'wall x':>7} {'cpu x':>7}")
    for stage in stages:
        print(f"{stage:18} {ours['seconds'][stage]:8.2f} {ours['cpu_seconds'][stage]:9.2f} {ours['rows'][stage]:11,} "
              f"{baseline['seconds'][stage]:8.2f} {baseline['cpu_seconds'][stage]:9.2f} {baseline['rows'][stage]:10,} "
              f"{per_row(baseline, stage, 'seconds') / per_row(ours, stage, 'seconds'):6.1f}x "
              f"{per_row(baseline, stage, 'cpu_seconds') / per_row(ours, stage, 'cpu_seconds'):6.1f}x")
    speedups = {}
    for name, group in (("read+normalize+forecast", stages[:3]), ("all four stages", stages)):
        for clock in ("seconds", "cpu_seconds"):
            ours_total = sum(ours[clock][s] for s in group)
            base_total = sum(per_row(baseline, s, clock) for s in group) * args.rows
            speedups[f"{name} ({clock})"] = {"ours": ours_total, "baseline_extrapolated": base_total,
                                             "speedup": base_total / ours_total}
            print(f"{name:24} {clock:12}: ours {ours_total:7.1f} s, baseline (per-row rate x {args.rows:,}) "
                  f"{base_total:8.1f} s -> {base_total / ours_total:5.1f}x")
    core = sum(ours["seconds"][s] for s in stages[:3])
    print(f"peak RSS ours {ours['peak_rss_gb']:.2f} GB, baseline {baseline['peak_rss_gb']:.2f} GB; "
          f"load average before/after: {load_before} / {os.getloadavg()}")
    result = {"rows": args.rows, "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared dev box",
              "load_average_before": load_before, "ours": ours, "baseline": baseline, "speedups": speedups,
              "targets": {"core_seconds_le_90": core <= 90, "peak_rss_le_8gb": ours["peak_rss_gb"] <= 8,
                          "core_speedup_ge_20x": speedups["read+normalize+forecast (seconds)"]["speedup"] >= 20}}
    out = RESULTS / "normalize.json"
    write_result(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
