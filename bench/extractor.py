"""The distilled extractor (``task=extract``'s ``hf_model/``) against SmolLM2-135M-Instruct off the shelf, on the
same held-out demo notes: notes/s and tokens/s (hf backend, batched greedy, CPU), prompt + completion tokens per
note, and event P/R/F1 against the demo's own timelines.

    python train.py experiment=demo_extract name=demo_extract        # → logs/train/runs/demo_extract/hf_model
    python bench/extractor.py --model logs/train/runs/demo_extract/hf_model [--notes 51] [--batch-size 8] [--threads 2]

Both annotators see the same test admissions (``split=test`` of the demo's ``splits.parquet``), whole-note windows
with the same prompt and budgets, one after the other in one process (the ratio is the robust number on a shared
machine; the machine's load is recorded). Writes ``logs/bench/extractor.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench_io import RESULTS, annotate_and_score, machine, write_result

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))


def held_out(demo: Path, count: int):
    """The first ``count`` test admissions of the demo (by note order): their notes and reference timelines."""
    from cts.data.event_table import read_event_table
    from cts.data.notes import read_notes
    from cts.data.splits import read_splits

    splits = read_splits(demo / "splits.parquet")
    test = set(splits.loc[splits["split"] == "test", "hadm_id"].astype("int64"))
    events = read_event_table(demo / "events_normalized.parquet")
    reference = {int(h): list(zip(g["event"].astype(str), g["time"].astype(float)))
                 for h, g in events.groupby("hadm_id", observed=True)}
    notes = [n for n in read_notes(demo / "notes.csv.gz") if n.hadm_id in test and n.hadm_id in reference][:count]
    if len(notes) < count:
        raise SystemExit(f"{demo}: only {len(notes)} test notes")
    return notes, [reference[n.hadm_id] for n in notes]


def run(model: str, notes, references, args) -> dict:
    import numpy as np
    from omegaconf import OmegaConf

    from cts.annotation.backends.hf import HFBackend
    from cts.annotation.evaluate import hour_errors, median_error, overall_samples
    from cts.annotation.prompts import Prompt
    from cts.annotation.tasks import EventsTask
    from cts.bootstrap import interval

    backend = HFBackend(model=model, max_new_tokens=args.max_new_tokens, temperature=0.0, batch_size=args.batch_size,
                        max_prompt_tokens=args.max_prompt_tokens, window_overlap=0.1, threads=args.threads)
    task = EventsTask(Prompt.from_config(OmegaConf.load(ROOT / "conf/annotate/prompt/timeline.yaml")), backend)
    generations, seconds, table, matched = annotate_and_score(task, notes, references)
    hours, errors = hour_errors(matched)
    scores = {name: interval(samples) for name, samples in overall_samples(table, 1000, 0).items()}
    completion = sum(g.completion_tokens for g in generations)
    prompt = sum(g.prompt_tokens for g in generations)
    return {"model": model, "notes": len(notes), "prompts": len(generations), "seconds": round(seconds, 2),
            "notes_per_s": len(notes) / seconds, "completion_tokens_per_s": completion / seconds,
            "prompt_tokens_per_note": prompt / len(notes), "completion_tokens_per_note": completion / len(notes),
            "cut_at_max_new_tokens": sum(g.finish_reason == "length" for g in generations),
            "events": int(table["predicted"].sum()), "reference": int(table["reference"].sum()),
            **{name: {"value": e.value, "ci95": e.ci95()} for name, e in scores.items()
               if name in ("precision", "recall", "f1", "mae_hours")},
            "median_ae_hours": median_error(errors),
            "largest_errors_hours": [[float(p), float(r)] for p, r in hours[np.argsort(-errors)[:5]]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the exported hf_model/ folder of a task=extract run")
    parser.add_argument("--baseline", default="smollm2")
    parser.add_argument("--demo", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--notes", type=int, default=51, help="test admissions (the demo has 51)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--max-prompt-tokens", type=int, default=1536)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "extractor.json")
    args = parser.parse_args()
    notes, references = held_out(args.demo, args.notes)
    before = machine()
    rows = {"distilled": run(args.model, notes, references, args),
            "off_the_shelf": run(args.baseline, notes, references, args)}
    speedup = rows["distilled"]["notes_per_s"] / rows["off_the_shelf"]["notes_per_s"]
    result = {"machine": before, "load_after": machine()["load_average"], "settings": vars(args) | {
        "demo": str(args.demo), "out": str(args.out), "model": args.model}, "results": rows,
        "notes_per_s_ratio": speedup}
    write_result(args.out, result)
    print(f"{'annotator':<14} {'notes/s':>8} {'tok/s':>7} {'prompt tok/note':>15} {'compl tok/note':>14} "
          f"{'F1 [95% CI]':>22}")
    for name, row in rows.items():
        f1 = row["f1"]
        print(f"{name:<14} {row['notes_per_s']:>8.3f} {row['completion_tokens_per_s']:>7.1f} "
              f"{row['prompt_tokens_per_note']:>15.0f} {row['completion_tokens_per_note']:>14.0f} "
              f"{f1['value']:.3f} {f1['ci95']}")
    print(f"distilled / off the shelf notes/s: {speedup:.2f}×; load {before['load_average']} → {result['load_after']}")


if __name__ == "__main__":
    main()
