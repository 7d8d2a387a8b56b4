"""Every offline annotator against the Llama-3.3-70B timelines of the T2S2 test reports (real case reports): event
precision / recall / F1, mean and median hour error, sign agreement and order concordance, each with a 95% interval
resampled by report, plus notes/s and tokens per note on this CPU; the distilled model minus the rules baseline with
a paired interval (same reports, same resamples).

    python preprocess.py corpus=t2s2 stage=import                         # data/t2s2 (once)
    python train.py experiment=t2s2_extract name=t2s2_extract           # → logs/train/runs/t2s2_extract/hf_model
    python bench/t2s2_annotators.py [--sample 20] [--distilled PATH] [--demo-extractor PATH]

Annotators, each through its own ``conf/llm`` config composed as ``annotate.py corpus=t2s2`` would:
``distilled`` (the t2s2_extract export, its training windows), ``rules`` (llm=rules: a dictionary of the TRAIN
reports' 70B events + relative-time rules), ``smollm2`` (SmolLM2-135M-Instruct off the shelf, structured decoding)
and ``demo_extractor`` (the extractor distilled on the synthetic demo, ``make extractor``). The two LLMs that were
never trained on case reports are slow and far behind, so they are scored on a seeded sample of ``--sample`` test
reports only (``--full`` names the annotators also scored on every test report; every annotator is scored on the
sample, so its rows compare). Writes ``logs/bench/t2s2_annotators.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from bench_io import RESULTS, annotate_and_score, machine, write_result

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))

METRICS = ("precision", "recall", "f1", "mae_hours", "sign_agreement", "order_concordance")
RESAMPLES, SEED = 1000, 0


def test_reports(corpus: Path):
    """The corpus's test reports (by id) with their reference timelines (every line the 70B wrote)."""
    from cts.data.event_table import read_event_table
    from cts.data.notes import read_notes
    from cts.data.splits import read_splits

    splits = read_splits(corpus / "splits.parquet")
    test = set(splits.loc[splits["split"] == "test", "hadm_id"].astype("int64"))
    events = read_event_table(corpus / "events.parquet")
    reference = {int(h): list(zip(g["event"].astype(str), g["time"].astype(float)))
                 for h, g in events.groupby("hadm_id", observed=True)}
    notes = sorted((n for n in read_notes(corpus / "notes.csv.gz") if n.hadm_id in test), key=lambda n: n.hadm_id)
    return notes, [reference[n.hadm_id] for n in notes]


def backend_for(overrides: list[str]):
    """The llm of ``annotate.py <overrides>`` (the project's own configs), instantiated."""
    import hydra
    from hydra import compose, initialize_config_dir

    import cts  # noqa: F401  (resolvers)
    from cts.annotation.prompts import Prompt

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="annotate", overrides=overrides)
    return hydra.utils.instantiate(cfg.llm, seed=cfg.seed), Prompt.from_config(cfg.prompt)


def median_samples(errors: list[np.ndarray], boot) -> np.ndarray:
    """Median absolute hour error over matched events with the reports resampled whole: row 0 all reports, then
    one row per resample (``errors[i]`` belongs to the bootstrap's row ``i``)."""
    weights = np.vstack([np.ones(boot.n_groups), boot.counts])[:, boot.codes].astype(np.int64)
    out = []
    for row in weights:
        pooled = np.concatenate([np.repeat(e, w) for e, w in zip(errors, row)] + [np.array([])])
        out.append(np.median(pooled) if len(pooled) else np.nan)
    return np.asarray(out)


def score(name: str, overrides: list[str], notes, references) -> tuple[dict, dict]:
    """(row for the JSON, bootstrap samples per metric) of one annotator on ``notes``."""
    from cts.annotation.evaluate import overall_samples
    from cts.annotation.tasks import EventsTask
    from cts.bootstrap import ClusterBootstrap, interval

    backend, prompt = backend_for(overrides)
    generations, seconds, table, matched = annotate_and_score(EventsTask(prompt, backend), notes, references)
    samples = overall_samples(table, RESAMPLES, SEED)
    errors = [np.abs(pairs[:, 0] - pairs[:, 1]) if len(pairs) else np.array([]) for pairs in matched]
    boot = ClusterBootstrap(table["note"].to_numpy(), n_resamples=RESAMPLES, seed=SEED)
    samples["median_ae_hours"] = median_samples(errors, boot)
    completion = sum(getattr(g, "completion_tokens", 0) for g in generations)
    prompt_tokens = sum(getattr(g, "prompt_tokens", 0) for g in generations)
    row = {"annotator": name, "overrides": overrides, "load_average": os.getloadavg()[0], "reports": len(notes),
           "prompts": len(generations),
           "seconds": round(seconds, 2), "notes_per_s": len(notes) / seconds,
           "prompt_tokens_per_note": prompt_tokens / len(notes), "completion_tokens_per_note": completion / len(notes),
           "predicted": int(table["predicted"].sum()), "reference": int(table["reference"].sum()),
           **{m: _estimate(interval(samples[m])) for m in (*METRICS, "median_ae_hours")}}
    print(f"{name:<16} reports {len(notes):>3}  F1 {row['f1']['value']:.3f} {row['f1']['ci95']}  order "
          f"{row['order_concordance']['value']:.3f}  {row['notes_per_s']:.3f} notes/s", flush=True)
    return row, samples


def _estimate(e) -> dict:
    return {"value": e.value, "ci95": e.ci95()}


def main() -> None:
    from cts.bootstrap import interval

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "t2s2")
    parser.add_argument("--distilled", default=str(ROOT / "logs/train/runs/t2s2_extract/hf_model"))
    parser.add_argument("--demo-extractor", default=str(ROOT / "logs/train/runs/demo_extract/hf_model"))
    parser.add_argument("--sample", type=int, default=20, help="test reports for the slow off-the-shelf LLMs")
    parser.add_argument("--only", nargs="*", default=None, help="annotators to run (default: all that exist)")
    parser.add_argument("--full", nargs="*", default=["distilled", "rules"],
                        help="annotators scored on every test report (the others on the sample only)")
    parser.add_argument("--out", type=Path, default=RESULTS / "t2s2_annotators.json")
    args = parser.parse_args()
    corpus = f"corpus.dir={args.corpus}"
    annotators = {
        "distilled": ["llm=hf", f"llm.model={args.distilled}", "llm.max_prompt_tokens=1024", "llm.max_new_tokens=512",
                      "llm.structured=false", "llm.batch_size=32"],
        "rules": ["llm=rules", f"llm.events={args.corpus}/events.parquet"],
        "smollm2": ["llm=hf", "llm.model=smollm2"],
        "demo_extractor": ["llm=hf", f"llm.model={args.demo_extractor}"],
    }
    missing = {"distilled": args.distilled, "demo_extractor": args.demo_extractor}
    chosen = [a for a in annotators if (args.only is None or a in args.only)
              and (a not in missing or Path(missing[a], "config.json").exists())]
    notes, references = test_reports(args.corpus)
    rng = np.random.default_rng(SEED)
    sample = np.sort(rng.choice(len(notes), size=min(args.sample, len(notes)), replace=False))
    before = machine()
    results, on_all = {}, {}
    for name in chosen:
        subsets = {"all": (notes, references)} if name in args.full else {}
        subsets["sample"] = ([notes[i] for i in sample], [references[i] for i in sample])
        for subset, (ns, rs) in subsets.items():
            row, samples = score(name, [corpus, *annotators[name]], ns, rs)
            results.setdefault(name, {})[subset] = row
            if subset == "all":
                on_all[name] = samples
    paired = {}
    if {"distilled", "rules"} <= set(on_all):
        for metric in ("f1", "order_concordance"):
            paired[f"distilled - rules {metric}"] = _estimate(interval(on_all["distilled"][metric]
                                                                       - on_all["rules"][metric]))
    result = {"machine": before, "load_after": machine()["load_average"], "corpus": str(args.corpus),
              "test_reports": len(notes), "full": args.full, "sample": [int(notes[i].hadm_id) for i in sample],
              "reference": "Llama-3.3-70B timelines (events.parquet: every readable line)", "results": results,
              "paired": paired, "resamples": RESAMPLES}
    previous = _previous(args.out)
    for name, rows in previous.get("results", {}).items():   # annotators not re-run keep their last numbers
        result["results"].setdefault(name, rows)
    if not paired and previous.get("paired"):
        result["paired"] = previous["paired"]
    write_result(args.out, result)
    for name, value in result["paired"].items():
        print(f"{name}: {value['value']:+.3f} {value['ci95']}")


def _previous(path: Path) -> dict:
    """The last result file, whose annotators that were not re-run are kept."""
    return json.loads(path.read_text()) if path.exists() else {}


if __name__ == "__main__":
    main()
