"""Choose the rules annotator's settings (``llm=rules``) on the VAL notes of a corpus, never on test.

One tally of the train notes per ``skip_sections`` choice (the expensive part), then for every grid point the
vocabulary is selected, the val notes are annotated in process and scored as ``annotate.py stage=evaluate`` scores
them (optimal one-to-one matching at token_sort_ratio 80, pooled P/R/F1, order concordance, median hour error).

    python bench/rules_select.py --corpus data/t2s2 --events events.parquet     # the 70B timelines as reference
    python bench/rules_select.py --corpus data/demo --events events_normalized.parquet

Writes ``logs/bench/rules_select_<corpus name>.json`` (every grid point, best first) and prints the top rows.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from bench_io import RESULTS, machine, write_result  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from cts.annotation.backends.rules import RulesAnnotator  # noqa: E402
from cts.annotation.evaluate import score_note  # noqa: E402
from cts.annotation.event_dictionary import select, tally  # noqa: E402
from cts.data.event_table import read_event_table  # noqa: E402
from cts.data.notes import read_notes  # noqa: E402
from cts.data.splits import read_splits  # noqa: E402

GRID = {"min_count": [1, 2, 3], "min_precision": [0.1, 0.15, 0.2, 0.25, 0.3], "repeats": [False, True],
        "step_hours": [0.0, 0.1, 1.0]}


def held_out(corpus: Path, events: Path, split: str) -> list[tuple[str, list[tuple[str, float]]]]:
    """(note text, reference timeline) of every admission of ``split`` that has a note and reference events."""
    splits = read_splits(corpus / "splits.parquet")
    wanted = set(splits.loc[splits["split"].astype(str) == split, "hadm_id"].astype("int64"))
    table = read_event_table(events)
    reference = {int(h): list(zip(g["event"].astype(str), g["time"].astype(float)))
                 for h, g in table[table["hadm_id"].isin(wanted)].groupby("hadm_id", observed=True)}
    return [(n.text, reference[n.hadm_id]) for n in read_notes(corpus / "notes.csv.gz") if n.hadm_id in reference]


def score(annotator: RulesAnnotator, notes) -> dict:
    """Pooled scores of the annotator on the notes, as stage=evaluate computes its point estimates."""
    sums = np.zeros(6)
    errors = []
    for text, reference in notes:
        note, hours = score_note("", annotator.annotate(text), reference, 80.0, "token_sort_ratio")
        sums += [note.matched, note.predicted, note.reference, note.concordant_pairs, note.pairs, note.signs_agreeing]
        errors.append(np.abs(hours[:, 0] - hours[:, 1]))
    matched, predicted, reference, concordant, pairs, signs = sums
    errors = np.concatenate(errors)
    return {"precision": float(matched / predicted) if predicted else None, "recall": float(matched / reference),
            "f1": float(2 * matched / (predicted + reference)),
            "order_concordance": float(concordant / pairs) if pairs else None,
            "sign_agreement": float(signs / matched) if matched else None,
            "median_ae_hours": float(np.median(errors)) if errors.size else None, "predicted": int(predicted),
            "matched": int(matched), "reference": int(reference)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "t2s2")
    parser.add_argument("--events", default="events.parquet", help="reference table inside --corpus")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    events = args.corpus / args.events
    skip = tuple(OmegaConf.load(ROOT / "conf" / "llm" / "rules.yaml")["skip_sections"])
    val = held_out(args.corpus, events, "val")
    rows = []
    for sections in (skip, ()):
        started = time.perf_counter()
        scores = tally(events, args.corpus / "splits.parquet", args.corpus / "notes.csv.gz", 8, sections)
        tally_s = time.perf_counter() - started
        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values))
            vocabulary = select(scores, setting["min_count"], setting["min_precision"])
            annotator = RulesAnnotator(vocabulary, repeats=setting["repeats"], step_hours=setting["step_hours"])
            started = time.perf_counter()
            result = score(annotator, val)
            rows.append({**setting, "skip_sections": bool(sections), **result, "tally_s": round(tally_s, 1),
                         "notes_per_s": round(len(val) / (time.perf_counter() - started), 1),
                         "vocabulary": {k: v for k, v in vocabulary.stats.items() if k != "notes read"}})
            print(f"{setting} sections={bool(sections)}: F1 {result['f1']:.3f} P {result['precision']:.3f} "
                  f"R {result['recall']:.3f} concordance {result['order_concordance']:.3f}", flush=True)
    rows.sort(key=lambda r: -r["f1"])
    name = args.corpus.name
    write_result(RESULTS / f"rules_select_{name}.json",
                 {"corpus": str(args.corpus), "reference": str(events), "val_notes": len(val), "grid": GRID,
                  "machine": machine(), "rows": rows})
    print(f"\nbest on {len(val)} val notes of {name} (of {len(rows)} settings):")
    for row in rows[:args.top]:
        print({k: row[k] for k in ("min_count", "min_precision", "repeats", "step_hours", "skip_sections", "f1",
                                   "precision", "recall", "order_concordance", "sign_agreement", "median_ae_hours")})


if __name__ == "__main__":
    main()
