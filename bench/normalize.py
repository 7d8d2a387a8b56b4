"""Benchmark: read + normalize + forecast windows + relation pairs, ours vs the authors' way, side by side.

    python bench/normalize.py ROWS [--baseline-rows 2000000] [--pairs-baseline-rows 200000] [--seed 0]

Generates a 22MCTS-shaped CSV of ROWS rows (cached under bench/results/tmp/): ~85 events per admission drawn from
a large vocabulary of clinical phrases, a few percent noise events (sex letters, numbers, time expressions) and
~0.3% ``-`` times. Each side runs in its own process so peak RSS is its own. The baseline runs on the first
``--baseline-rows`` rows when ROWS is larger (the per-row Python loops take hours at 22.6M rows); ratios compare
rows per second. Prints a table and writes bench/results/normalize.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    path.parent.mkdir(parents=True, exist_ok=True)
    hadm_next = 20_000_000
    with open(path, "wb") as out:
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
            bins = pc.cast(pa.array(np.searchsorted([-60, -30, -15, 0, 15, 30, 60, 120], hours, side="right")), pa.string())
            line = pc.binary_join_element_wise(pc.cast(pa.array(hadm), pa.string()), event, time_text, bins, ",")
            out.write(("\n".join(line.to_pylist()) + "\n").encode())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_ours(csv: Path, rows: int) -> dict:
    from cts.data.event_table import read_event_table
    from cts.data.normalize import normalize_events
    from cts.tasks.forecast.build import build_forecast_windows
    from cts.tasks.relation.build import build_relation_pairs

    timings = {}
    start = time.perf_counter()
    events = read_event_table(csv)
    timings["read"] = time.perf_counter() - start
    start = time.perf_counter()
    normalized, counts = normalize_events(events)
    timings["normalize"] = time.perf_counter() - start
    del events
    start = time.perf_counter()
    windows = build_forecast_windows(normalized, seed=0)
    timings["forecast_windows"] = time.perf_counter() - start
    del windows
    start = time.perf_counter()
    pairs = build_relation_pairs(normalized, seed=0)
    timings["relation_pairs"] = time.perf_counter() - start
    return {"rows": {k: rows for k in timings}, "seconds": timings, "peak_rss_gb": peak_rss_gb(),
            "normalized_rows": counts["output"], "pairs": len(pairs)}


def run_baseline(csv: Path, rows: int, pairs_rows: int) -> dict:
    import pandas as pd

    import authors_baseline as authors

    timings, counted = {}, {}
    start = time.perf_counter()
    frame = authors.read_release(csv, nrows=rows)
    timings["read"], counted["read"] = time.perf_counter() - start, rows
    start = time.perf_counter()
    normalized = authors.normalize(frame)
    timings["normalize"], counted["normalize"] = time.perf_counter() - start, rows
    start = time.perf_counter()
    authors.forecast_windows(normalized, seed=0)
    timings["forecast_windows"], counted["forecast_windows"] = time.perf_counter() - start, rows
    first_admissions = normalized["Hadm_id"].isin(pd.unique(frame["Hadm_id"].iloc[:pairs_rows]))
    start = time.perf_counter()
    authors.relation_pairs(normalized[first_admissions])
    timings["relation_pairs"], counted["relation_pairs"] = time.perf_counter() - start, min(pairs_rows, rows)
    return {"rows": counted, "seconds": timings, "peak_rss_gb": peak_rss_gb(), "normalized_rows": len(normalized)}


def child(side: str, csv: Path, rows: int, pairs_rows: int) -> dict:
    command = [sys.executable, __file__, str(rows), "--side", side, "--csv", str(csv), "--pairs-baseline-rows", str(pairs_rows)]
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

    csv = HERE / "results" / "tmp" / f"mcts_{args.rows}_{args.seed}.csv"
    if not csv.exists():
        start = time.perf_counter()
        generate_csv(csv, args.rows, args.seed)
        print(f"generated {csv} ({csv.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
    ours = child("ours", csv, args.rows, args.pairs_baseline_rows)
    baseline_rows = min(args.rows, args.baseline_rows)
    baseline = child("baseline", csv, baseline_rows, args.pairs_baseline_rows)
    stages = ["read", "normalize", "forecast_windows", "relation_pairs"]
    rate = lambda side, stage: side["rows"][stage] / side["seconds"][stage]  # noqa: E731
    print(f"\n{'stage':18} {'ours s':>9} {'ours rows':>11} {'base s':>9} {'base rows':>11} {'speed-up':>9}")
    for stage in stages:
        print(f"{stage:18} {ours['seconds'][stage]:9.2f} {ours['rows'][stage]:11,} {baseline['seconds'][stage]:9.2f} "
              f"{baseline['rows'][stage]:11,} {rate(ours, stage) / rate(baseline, stage):8.1f}x")
    core = ["read", "normalize", "forecast_windows"]
    ours_core = sum(ours["seconds"][s] for s in core)
    base_core_per_row = sum(baseline["seconds"][s] / baseline["rows"][s] for s in core)
    speedup = base_core_per_row * args.rows / ours_core
    print(f"read+normalize+forecast: ours {ours_core:.1f} s for {args.rows:,} rows; speed-up {speedup:.1f}x; "
          f"peak RSS ours {ours['peak_rss_gb']:.2f} GB, baseline {baseline['peak_rss_gb']:.2f} GB")
    result = {"rows": args.rows, "machine": f"{platform.node()} {platform.processor() or platform.machine()}, 2-core shared dev box",
              "ours": ours, "baseline": baseline, "core_seconds_ours": ours_core, "core_speedup": speedup,
              "targets": {"core_seconds_le_90_at_22.6M": ours_core <= 90, "peak_rss_le_8gb": ours["peak_rss_gb"] <= 8,
                          "speedup_ge_20x": speedup >= 20}}
    out = HERE / "results" / "normalize.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
