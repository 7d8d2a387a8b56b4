"""Rewrite the benchmark tables in README.md and docs/training.md from bench/results/*.json, so every number in the
docs comes from a committed result file.

    python bench/tables.py           rewrite the marked sections
    python bench/tables.py --check   exit 1 if a section differs from what the result files give (the tests run this)

A section is the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; everything else is left alone.
It is the one place that turns result files into README and docs tables; an estimate reads as on every report page
(``cts.reports.intervals``). It stays a script beside the results it reads: the installed package knows no README.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

from cts.io import write_text
from cts.reports.intervals import with_interval

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _load_text(load) -> str:
    return f"load average {load[0]:.1f}" if load else "load not recorded"


def normalize_row() -> str:
    result = _load("normalize")
    ours, base, speedups = result["ours"], result["baseline"], result["speedups"]

    def rate_ratio(stage: str) -> float:  # per-row rates: the baseline ran on fewer rows
        return (ours["rows"][stage] / ours["seconds"][stage]) / (base["rows"][stage] / base["seconds"][stage])

    core = speedups["read+normalize+forecast (seconds)"]
    every = speedups["all four stages (seconds)"]
    return (f"| `bench/normalize.py {result['rows']}` | read + normalize + forecast windows + relation pairs on a "
            f"22MCTS-shaped CSV vs pandas `apply`/`groupby`/`iloc` loops (baseline at {base['rows']['read']:,} rows, "
            f"pairs at {base['rows']['relation_pairs']:,}, rates compared per row) | core (read+normalize+windows) "
            f"{core['ours']:.1f} s, peak RSS {ours['peak_rss_gb']:.1f} GB; {core['speedup']:.2f}× faster on the core, "
            f"{every['speedup']:.1f}× on all four stages (normalize {rate_ratio('normalize'):.0f}×, windows "
            f"{rate_ratio('forecast_windows'):.0f}×, pairs {rate_ratio('relation_pairs'):.0f}×; our read is slower "
            f"than a bare `pd.read_csv` because it also hashes events and sorts) "
            f"({_load_text(result.get('load_average_before'))}) |")


def notes_row() -> str:
    result = _load("notes")
    rows = result["throughput"]
    ours = next(r for r in rows if r["method"] == "chunk+bm25" and r["engine"].startswith("cts (")
                and r["dataset"] == "synthetic-mimic")
    naive = next(r for r in rows if r["engine"] == "naive rank-bm25" and r["dataset"] == "synthetic-mimic")
    targets = result["targets"]
    fewer = next(v for k, v in targets.items() if k.startswith("dense encodings"))
    points = next(v for k, v in targets.items() if k.startswith("coverage@30"))
    rss = next(v for k, v in targets.items() if k.startswith("peak RSS"))
    return (f"| `bench/notes.py` | chunk + BM25, hybrid, cascade vs rank-bm25 per note and dense on every chunk | "
            f"{ours['notes_per_s']:.0f} notes/s chunk+BM25 ({ours['notes_per_s'] / naive['notes_per_s']:.1f}×); "
            f"cascade {fewer:.1f}× fewer encodings at {points:+.1f} points coverage; {rss:.1f} GB peak "
            f"({_load_text(result.get('load_average_at_start'))}) |")


def annotate_row() -> str:
    result = _load("annotate")
    speedup = result["speedup"]
    same = "identical" if speedup["identical_outputs"] == result["batched"]["prompts"] else \
        f"{speedup['identical_outputs']}/{result['batched']['prompts']} identical"
    return (f"| `bench/annotate.py` | batched generation vs one prompt at a time (SmolLM2-135M) | "
            f"{speedup['prompts_per_s']:.1f}× prompts/s, {same} greedy outputs "
            f"({_load_text(result['machine'].get('load_average_at_start'))}) |")


def extractor_row() -> str:
    what = ("| `bench/extractor.py` | distilled extractor vs SmolLM2 off the shelf on the same held-out demo notes: "
            "notes/s, tokens/s, tokens per note, F1 | ")
    if not (RESULTS / "extractor.json").exists():
        return what + "not yet run here (needs a trained `hf_model`; see docs/training.md) |"
    result = _load("extractor")
    ours, theirs = result["results"]["distilled"], result["results"]["off_the_shelf"]
    load = _load_text(result["machine"].get("load_average"))
    return what + (f"F1 {with_interval(ours['f1']['value'], ours['f1']['ci95'])} vs "
                   f"{with_interval(theirs['f1']['value'], theirs['f1']['ci95'])} on {ours['notes']} notes; "
                   f"{result['notes_per_s_ratio']:.1f}× notes/s ({load}) |")


def throughput_row() -> str:
    result = _load("train_throughput")
    return (f"| `bench/train_throughput.py` | relation training samples/s vs tokenize-in-`__getitem__`, pad-to-128 "
            f"loop | {result['ratio']:.1f}× ({_load_text(result.get('load_average_before'))}) |")


def benchmarks() -> str:
    return "\n".join(["| script | what | result |", "|---|---|---|", normalize_row(), notes_row(), annotate_row(),
                      extractor_row(), throughput_row()])


HEADLINE_RUNS = (("demo", "demo_runs"), ("demo", "risk_demo"), ("t2s2", "t2s2_runs"))


def _lower_is_better(metric: str) -> bool:
    return any(word in metric for word in ("bits", "mae", "brier", "loss", "perplexity"))


def _comparisons(job: dict) -> list[dict]:
    """A job's model − best baseline blocks: the headline metric's, then each ``also_compared`` one."""
    return [block for block in (job.get("best_baseline"), *(job.get("also_compared") or []))
            if block and "delta_ci95" in block]


def headline() -> str:
    """Every published training run's model against its best baseline on its headline metric (and on each metric it
    is also compared on), with the paired 95% interval of the difference and what it says: from
    bench/results/{demo_runs,risk_demo,t2s2_runs}.json."""
    lines = ["| data | run | model | test metric | model | best baseline | model − baseline | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for data, name in HEADLINE_RUNS:
        if not (RESULTS / f"{name}.json").exists():
            continue
        for key, run in _load(name)["runs"].items():
            if key == "families":  # risk_demo: the family comparison repeats the mortality run's default job
                continue
            for job in run["jobs"][:1]:
                for best in _comparisons(job):
                    lo, hi = best["delta_ci95"]
                    metric = best["metric_name"]
                    better, worse = (hi < 0, lo > 0) if _lower_is_better(metric) else (lo > 0, hi < 0)
                    verdict = "**beats**" if better else "loses" if worse else "tie (interval spans 0)"
                    where = f"{data}, 5,000 admissions" if key.endswith("_large") else data  # the larger demo
                    lines.append(f"| {where} | `{key}` | {job['model']} | {metric} | "
                                 f"{_number((job.get('metrics') or {}).get(metric), '.3f')} | {best['name']} "
                                 f"{_number(best.get('value'), '.3f')} | {_number(best['delta'], '+.3f')}"
                                 f"{_interval(best['delta_ci95'])} | {verdict} |")
    return "\n".join(lines)


def train_throughput() -> str:
    result = _load("train_throughput")
    repeats = result.get("repeats", 1)
    spread = ""
    if "naive_samples_per_s_range" in result:
        (nl, nh), (ol, oh) = result["naive_samples_per_s_range"], result["ours_samples_per_s_range"]
        spread = f" (ranges {nl:.1f}–{nh:.1f} and {ol:.1f}–{oh:.1f})"
    return (f"On the 2-core shared CPU dev box ({result['machine']}, {_load_text(result.get('load_average_before'))}), "
            f"{result['model']}, {result['samples']} samples, batch {result['batch_size']}, "
            f"{result.get('warmup_steps', 0)} warm-up steps, median of {repeats} run{'s' * (repeats > 1)}: naive "
            f"{result['naive_samples_per_s']:.1f} samples/s, "
            f"ours {result['ours_samples_per_s']:.1f} samples/s{spread}, "
            f"**{result['ratio']:.1f}×** (pairs average {result['mean_tokens_per_pair']:.0f} tokens, so dynamic "
            f"padding and length grouping do most of it).")


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _not_measured(name: str) -> str:
    """What a section says before ``bench/NAME.py``'s result is published."""
    return (f"Not measured on the current code yet: `python bench/{name}.py` writes logs/bench/{name}.json; copied "
            "to bench/results/, `python bench/tables.py` fills this section.")


def demo_runs() -> str:
    """The documented demo runs from bench/results/demo_runs.json (written by bench/demo_runs.py)."""
    if not (RESULTS / "demo_runs.json").exists():
        return _not_measured("demo_runs")
    result = _load("demo_runs")
    source = result["machine"].get("note") or "measured by `python bench/demo_runs.py`"
    lines = [f"{source[0].upper()}{source[1:]}, on the 2-core shared CPU dev box "
             f"({_load_text(result['machine'].get('load_average'))}):", ""]
    for run in result["runs"].values():
        lines += [f"`{run['command']}` ({run['wall_s']:.0f} s wall):", "",
                  "| model | params | train time | headline test metric | value | best baseline | model − baseline "
                  "| ceiling | gap closed |", "|---|---|---|---|---|---|---|---|---|"]
        for job in run["jobs"]:
            for best in _comparisons(job) or [{}]:
                metric = best.get("metric_name", "")
                value = _number((job.get("metrics") or {}).get(metric), ".3f")
                gap, ceiling = job.get("gap_closed") or {}, (job.get("ceiling") or {}).get(metric)
                if gap.get("metric_name") != metric:
                    gap = {}
                lines.append(f"| {job['model']} | {job['params'] / 1e6:.2f} M | {job['train_time_s']:.0f} s | "
                             f"{metric or 'n/a'} | {value} | {best.get('name', 'n/a')} "
                             f"{_number(best.get('value'), '.3f')} | {_number(best.get('delta'), '+.3f')}"
                             f"{_interval(best.get('delta_ci95'))} | {_number(ceiling, '.3f')} "
                             f"| {_number(gap.get('value'), '.2f')}{_interval(gap.get('ci95'), '.2f')} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def _interval(bounds, spec: str = "+.3f") -> str:
    """`` [lo, hi]`` of a 95% interval, or nothing where there is none."""
    return f" [{_number(bounds[0], spec)}, {_number(bounds[1], spec)}]" if bounds else ""


def _ci(row: dict, metric: str) -> str:
    lo, hi = row["ci95"][metric]
    return f"{row[metric]:.3f} [{_number(lo, '.2f')}, {_number(hi, '.2f')}]"


CURVE_POINTS = [("bm25", "top_k=30 windows"), ("bm25", "top_k=30 passages"), ("bm25", "top_k=all passages"),
                ("bm25", "budget=0.5 passages"), ("bm25, smooth", "budget=0.5 passages"),
                ("bm25, smooth", "configured"),
                ("cascade, encoder=static", "configured"), ("cascade, encoder=transformer", "configured"),
                ("bm25", "whole note")]


def retrieval_curve() -> str:
    """Relative coverage against the share of note tokens sent, tuning and reporting parts (bench/notes.py)."""
    result = _load("notes")
    if "curve" not in result:
        return "Not measured yet: `python bench/notes.py --parts curve,static`, then `python bench/tables.py`."
    rows = result["curve"]["rows"]
    lines = [f"2-core shared CPU dev box ({_load_text(result['curve'].get('load_average_at_start'))}); relative "
             "coverage = events reaching the LLM / events findable in the full text, 95% bootstrap interval over "
             "notes; tokens = mean share of the note's tokens sent.", "",
             "| corpus | part | notes | retrieval | selection | relative coverage | tokens sent |",
             "|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for part in ("tune", "report"):
            for setup, policy in CURVE_POINTS:
                row = next((r for r in rows if (r["dataset"], r["part"]) == (dataset, part)
                            and r["retrieval"].startswith(setup) and r["policy"].startswith(policy)
                            and (setup != "bm25" or r["retrieval"] == "bm25")), None)
                if row is not None:
                    lines.append(f"| {dataset} | {part} | {row['notes']} | {row['retrieval']} | {row['policy']} | "
                                 f"{_ci(row, 'relative_coverage')} | {_ci(row, 'token_share')} |")
    return "\n".join(lines)


def static_encoder() -> str:
    """encoder=static against the sentence-transformer: texts/s and coverage (bench/notes.py --parts static)."""
    result = _load("notes")
    if "static" not in result:
        return "Not measured yet: `python bench/notes.py --parts static`, then `python bench/tables.py`."
    static = result["static"]
    speed = static["speed"]
    lines = [f"2-core shared CPU dev box ({_load_text(static.get('load_average_at_start'))}), the same "
             f"{speed['static']['texts']:,} chunk texts one after the other: static "
             f"{speed['static']['texts_per_s']:,.0f} texts/s, MiniLM {speed['transformer']['texts_per_s']:,.0f} "
             f"texts/s: **{static['speedup']:.0f}×** (static model loaded from the cache in "
             f"{speed['static']['load_seconds']:.1f} s).", "",
             "| corpus (reporting part) | ranking | notes | static: relative coverage | MiniLM: relative coverage |",
             "|---|---|---|---|---|"]
    cover = static["coverage"]
    for dataset, ranking in dict.fromkeys((r["dataset"], r["ranking"]) for r in cover):
        pair = {r["encoder"]: r for r in cover if (r["dataset"], r["ranking"]) == (dataset, ranking)}
        lines.append(f"| {dataset} | {ranking} | {pair['static']['notes']} | {_ci(pair['static'], 'relative_coverage')}"
                     f" | {_ci(pair['transformer'], 'relative_coverage')} |")
    agreement = static.get("agreement")
    if agreement:
        lines += ["", f"MTSamples ({agreement['notes']} notes, no reference events): the static model keeps "
                      f"{agreement['share_of_transformer_top_k_kept_by_static']:.0%} of MiniLM's top-"
                      f"{agreement['top_k']} dense chunks."]
    return "\n".join(lines)


def risk_demo() -> str:
    """The task=risk demo runs from bench/results/risk_demo.json (written by bench/risk_demo.py)."""
    if not (RESULTS / "risk_demo.json").exists():
        return _not_measured("risk_demo")
    result = _load("risk_demo")
    lines = ["Measured by `python bench/risk_demo.py` on the 2-core shared CPU dev box (wall and CPU time of the "
             "whole `train.py` process; the load is the 1-minute average when the run started). Test AUROC with "
             "95% intervals resampled by admission; Δ = model − best baseline on AUROC, paired:", "",
             "| command | model | wall (CPU) | load | model AUROC | bag-of-events LR AUROC | Δ | ceiling AUROC "
             "| gap closed | AUPRC model / LR | Brier model / LR |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = ["mortality", "los7", "readmission30", "gpt", "families", "mortality_large", "los7_large",
             "readmission30_large"]  # bench/risk_demo.py's runs
    for _, run in sorted(result["runs"].items(), key=lambda item: order.index(item[0]) if item[0] in order else 99):
        for job in run["jobs"]:
            metrics, ci95 = job["metrics"], job["ci95"]
            lr = job["baselines"].get("bag_of_events_lr", {})
            best, gap = job.get("best_baseline") or {}, job.get("gap_closed") or {}
            lines.append(
                f"| `{run['command']}` | {job['model']} | {run['wall_s']:.0f} s ({run['cpu_s']:.0f} s) | "
                f"{run['load_average_before'][0]:.1f} | "
                f"{with_interval(metrics.get('test/auroc'), ci95.get('test/auroc'))} | "
                f"{with_interval(lr.get('test/auroc'), lr.get('ci95', {}).get('test/auroc'))} | "
                f"{with_interval(best.get('delta'), best.get('delta_ci95'), '+.3f')} | "
                f"{_ceiling(job, 'test/auroc')} | "
                f"{_number(gap.get('value'), '.2f')}{_interval(gap.get('ci95'), '.2f')} | "
                f"{_number(metrics.get('test/auprc'), '.3f')} / {_number(lr.get('test/auprc'), '.3f')} | "
                f"{_number(metrics.get('test/brier'), '.3f')} / {_number(lr.get('test/brier'), '.3f')} |")
    return "\n".join(lines)


def _ceiling(job: dict, metric: str) -> str:
    ceiling = job.get("ceiling") or {}
    return with_interval(ceiling.get(metric), ceiling.get("ci95", {}).get(metric)) if ceiling else "n/a"


def risk_select() -> str:
    """How task=risk's defaults were chosen, from bench/results/risk_select.json (bench/risk_select.py)."""
    if not (RESULTS / "risk_select.json").exists():
        return _not_measured("risk_select")
    result = _load("risk_select")
    outcomes = list(result["outcomes"])
    sizes = ", ".join(f"{o} {r['admissions']}" for o, r in result["outcomes"].items())
    lines = [f"Measured by `python bench/risk_select.py` ({result['wall_s'] / 60:.0f} min on the 2-core CPU dev box, "
             f"{_load_text(result['machine']['load_average'])}): out-of-fold AUROC, mean over "
             f"{result['folds']} patient folds of the train+val admissions ({sizes}) ± its standard deviation over "
             f"the folds; the test split is never read. The best setting of each pooling (by the mean over the "
             f"outcomes), and the bag-of-events LR on the same folds:", "",
             "| pooling | head lr | epochs | time encoding | " + " | ".join(outcomes) + " | mean |",
             "|---|---|---|---|" + "---|" * (len(outcomes) + 1)]
    grid = list(result["grid"])
    for pooling in result["grid"]["pooling"]:
        row = next(r for r in result["ranking"] if r["pooling"] == pooling)
        chosen = " (default)" if row == result["best"] else ""
        folds = {o: next(r for r in result["outcomes"][o]["rows"] if all(r[k] == row[k] for k in grid))
                 for o in outcomes}
        lines.append(f"| `{pooling}`{chosen} | {row['head_lr']:g} | {row['max_epochs']} | {row['time_encoding']} | "
                     + " | ".join(f"{folds[o]['auroc_mean']:.3f} ± {folds[o]['auroc_std']:.3f}" for o in outcomes)
                     + f" | {row['auroc_mean']:.3f} |")
    baseline = [result["outcomes"][o] for o in outcomes]
    lines.append("| bag-of-events LR | | | | "
                 + " | ".join(f"{b['baseline_auroc_mean']:.3f} ± {np.std(b['baseline_auroc_folds']):.3f}"
                              for b in baseline)
                 + f" | {np.mean([b['baseline_auroc_mean'] for b in baseline]):.3f} |")
    return "\n".join(lines)


T2S2_METRICS = {"relation": ("macro_f1", "acc", "f1_same", "f1_after", "f1_before"),
                "nextevent": ("top5_tied", "top1_tied", "top1", "time_bucket_acc", "hours_mae_stay"),
                "forecast": ("exact_match_tied", "exact_match", "time_bucket_acc", "hours_mae_stay")}
T2S2_UNITS = {"relation": "pairs", "nextevent": "prediction points (every position after a report's first)",
              "forecast": "windows"}


def t2s2_runs() -> str:
    """The downstream tasks on the T2S2 case reports from bench/results/t2s2_runs.json (bench/t2s2_runs.py): per
    task the model and every baseline on the same test rows with 95% intervals, model − best baseline, wall time."""
    if not (RESULTS / "t2s2_runs.json").exists():
        return _not_measured("t2s2_runs")
    runs = _load("t2s2_runs")["runs"]
    lines = []
    for task in [t for t in T2S2_METRICS if t in runs] + [t for t in runs if t not in T2S2_METRICS]:
        run = runs[task]
        job = run["jobs"][0]
        metrics, ci95, best = job["metrics"], job["ci95"], job.get("best_baseline") or {}
        names = T2S2_METRICS.get(task) or tuple(m.removeprefix("test/") for m in ci95)
        scored = job.get("test_rows") or {}
        load = run["load_average_before"][0]
        note = f"; {run['note']}" if run.get("note") else ""
        lines += [f"**{task}** — `{run['command']}`: {job['model']} ({job['params'] / 1e6:.1f} M parameters), "
                  f"**{run['wall_s'] / 60:.1f} min wall** ({run['cpu_s']:.0f} s CPU; training "
                  f"{job['train_time_s']:.0f} s) on the 2-core CPU shared with other jobs (load average {load:.1f} "
                  f"at the start{note}). Test: "
                  f"{scored.get('scored', 0):,} {T2S2_UNITS.get(task, 'rows')} of {scored.get('admissions', 0)} "
                  f"test reports, every predictor on the same rows; 95% intervals resampled by report.", "",
                  "| predictor | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
        predictors = [("**model**", metrics, ci95)] + [(f"`{name}`", values, values.get("ci95", {}))
                                                      for name, values in job["baselines"].items()]
        for label, values, intervals in predictors:
            cells = []
            for name in names:
                key = f"test/{name}"
                spec = ".1f" if name.startswith("hours_mae") else ".3f"
                cells.append(with_interval(values[key], intervals.get(key), spec) if values.get(key) is not None
                             else "—")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if best:
            lines += ["", f"Model − best baseline (`{best['name']}`) on `{best['metric_name'].removeprefix('test/')}`: "
                          f"**{with_interval(best['delta'], best.get('delta_ci95'), '+.3f')}**."]
        lines.append("")
    return "\n".join(lines).rstrip()


T2S2_ANNOTATORS = {"distilled": "the distilled model: SmolLM2-135M fine-tuned on T2S2 train reports "
                                "(`experiment=t2s2_extract`)",
                   "rules": "the rules baseline (`llm=rules`: train reports' 70B events + time rules)",
                   "demo_extractor": "the demo-trained extractor (`make extractor`)",
                   "smollm2": "SmolLM2-135M-Instruct off the shelf"}


def _estimate(row: dict, metric: str, spec: str = ".3f") -> str:
    """``value [lo, hi]`` of a bench row's ``{metric: {value, ci95}}``."""
    return with_interval(row[metric]["value"], row[metric]["ci95"], spec)


def t2s2_annotators() -> str:
    """Every offline annotator on the T2S2 test reports against the 70B timelines, from
    bench/results/t2s2_annotators.json (bench/t2s2_annotators.py)."""
    if not (RESULTS / "t2s2_annotators.json").exists():
        return _not_measured("t2s2_annotators")
    result = _load("t2s2_annotators")
    lines = [f"Measured by `python bench/t2s2_annotators.py` on the 2-core shared CPU dev box (notes/s: the load "
             f"average at the end of each row's run beside it; one annotator per run, so the box's load differed "
             f"between rows): {result['reference']} of the "
             f"{result['test_reports']} test reports; 95% intervals resample reports. `all` = every test report, "
             f"`sample` = a seeded sample of {len(result['sample'])} of them, on which every annotator is scored (the "
             f"slow ones only there).", "",
             "| annotator | reports | precision | recall | event F1 | median / mean hour error (h) | sign agreement "
             "| order concordance | notes/s | tokens per note (prompt + answer) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, label in T2S2_ANNOTATORS.items():
        for subset, row in result["results"].get(name, {}).items():
            cells = [f"{row['reports']} ({subset})", *(_estimate(row, m) for m in ("precision", "recall")),
                     f"**{_estimate(row, 'f1')}**",
                     f"{_estimate(row, 'median_ae_hours', '.0f')} / {_number(row['mae_hours']['value'], '.0f')}",
                     *(_estimate(row, m) for m in ("sign_agreement", "order_concordance")),
                     f"{row['notes_per_s']:.3f} (load {_number(row.get('load_average'), '.1f')})",
                     f"{row['prompt_tokens_per_note']:.0f} + {row['completion_tokens_per_note']:.0f}"]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, value in result.get("paired", {}).items():
        lines += ["", f"Paired on the same {result['test_reports']} reports and resamples, {name}: "
                      f"**{with_interval(value['value'], value['ci95'], '+.3f')}**."]
    return "\n".join(lines)


def mutation() -> str:
    """Kill rates per module and package from bench/results/mutation.json (``make mutation``, bench/mutation.py)."""
    if not (RESULTS / "mutation.json").exists():
        return _not_measured("mutation")
    result = _load("mutation")
    lines = [f"Measured by {result['tool']} (`make mutation`) on the 2-core shared CPU dev box "
             f"({_load_text(result['machine']['load_average'])} when the rates were read). Killed = a test failed or "
             "the mutant timed out; the rate is over the checked mutants (a pass stopped early leaves some unchecked).",
             "", "| module | mutants | killed | survived | no tests | unchecked | kill rate |",
             "|---|---|---|---|---|---|---|"]

    def row(name, counts, bold=False):
        rate = "—" if counts["kill_rate"] is None else f"{100 * counts['kill_rate']:.1f}%"
        cells = [counts[k] for k in ("mutants", "killed", "survived", "no_tests", "not_checked")]
        return f"| {'**' + name + '**' if bold else name} | " + " | ".join(map(str, cells)) + \
            f" | {'**' + rate + '**' if bold else rate} |"

    for package, counts in result["packages"].items():
        lines += [row(f"`{module.removeprefix('src/cts/')}`", c) for module, c in result["modules"].items()
                  if module.removeprefix("src/cts/").split("/")[0] == package]
        lines.append(row(f"{package}/", counts, bold=True))
    lines.append(row("all", result["all"], bold=True))
    return "\n".join(lines)


# bench/results/<folder>/summary.csv (a sweep report, copied from logs/bench/train/multiruns/<name>/): what it ablates
ABLATIONS = {
    "ablation_relation": ("relation, demo", "python train.py -m task.time_encoding=loghours,bins "
                          "task.datamodule.first_time_text=words,none"),
    "ablation_demo_gpt": ("nextevent, demo", "python train.py -m experiment=demo_gpt "
                          "task.datamodule.event_tokens=1000,0 task.module.exclude_seen=auto,false"),
    # run before the Optuna search moved the preset's lr and decay: pinned here, so the command reproduces the table
    "ablation_demo_forecast_gpt": ("forecast, demo", "python train.py -m experiment=demo_forecast_gpt "
                                   "model.optimizer.lr=2e-3 model.optimizer.weight_decay=0.01 "
                                   "data.max_rows=null,1600 task.module.exclude_seen=auto,false"),
    "ablation_risk_large": ("risk (mortality), 5,000-admission demo", "python train.py -m task=risk "
                            "paths.demo_dir=${paths.data_dir}/demo_5000 data.build.n_admissions=5000 "
                            "data.max_rows=null task.pooling=events,mean task.time_in_text=true,false"),
}


def ablations() -> str:
    """One table per ablation sweep (bench/results/ablation_*/summary.csv, the sweep report's): each job's varying
    settings, its headline test metric with the 95% interval, the best baseline and model − baseline, paired."""
    lines = []
    for folder, (what, command) in ABLATIONS.items():
        path = RESULTS / folder / "summary.csv"
        if not path.exists():
            lines += [f"**{what}** — `{command}`: not measured yet.", ""]
            continue
        jobs = list(csv.DictReader(path.open()))
        fixed = {"job", "model", "params", "train_time_s", "optimized_metric", "optimized", "metric", "value", "lo",
                 "hi", "best_baseline", "baseline_value", "delta", "delta_lo", "delta_hi"}
        keys = [key for key in jobs[0] if key not in fixed]
        metric = jobs[0]["metric"]
        lines += [f"**{what}** — `{command}` (sweep report: `bench/results/{folder}/summary.md`; test "
                  f"`{metric.removeprefix('test/')}`, jobs best first by validation `{jobs[0]['optimized_metric']}`):",
                  "", "| " + " | ".join(f"`{k}`" for k in keys) + " | test value | best baseline | model − baseline "
                  "| train time |", "|" + "---|" * (len(keys) + 4)]
        for job in jobs:
            value, delta = (with_interval(float(job[v]), [float(job[lo]), float(job[hi])], spec)
                            for v, lo, hi, spec in (("value", "lo", "hi", ".3f"),
                                                    ("delta", "delta_lo", "delta_hi", "+.3f")))
            lines.append("| " + " | ".join(job[k] for k in keys) + f" | {value} | {job['best_baseline']} "
                         f"{float(job['baseline_value']):.3f} | {delta} | {float(job['train_time_s']):.0f} s |")
        lines.append("")
    return "\n".join(lines).rstrip()


SECTIONS = {ROOT / "README.md": {"benchmarks": benchmarks, "headline": headline},
            ROOT / "docs" / "retrieval.md": {"retrieval_curve": retrieval_curve, "static_encoder": static_encoder},
            ROOT / "docs" / "annotation.md": {"t2s2_annotators": t2s2_annotators},
            ROOT / "docs" / "testing.md": {"mutation": mutation},
            ROOT / "docs" / "training.md": {"train_throughput": train_throughput, "demo_runs": demo_runs,
                                                "risk_demo": risk_demo, "risk_select": risk_select,
                                                "t2s2_runs": t2s2_runs, "ablations": ablations}}


def render(text: str, sections: dict) -> str:
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- bench:{name} [^\n]*-->\n)(.*?)(\n<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"no <!-- bench:{name} ... --> … <!-- /bench:{name} --> section to fill")
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale sections (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, sections in SECTIONS.items():
        text = path.read_text()
        new = render(text, sections)
        if new != text:
            stale.append(path)
            if not args.check:
                write_text(path, new)
    verb = "out of date (run python bench/tables.py)" if args.check else "rewritten"
    for path in stale:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {verb}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
