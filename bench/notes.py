"""Benchmark stage=notes: notes/s, dense encodings, coverage and peak RSS, side by side with a naive baseline;
coverage per token sent (the selection rules); the static encoder against the sentence-transformer.

    python bench/notes.py [--notes 3000] [--dense-notes 10] [--demo-notes 40] [--out logs/bench/notes.json]
    python bench/notes.py --parts curve,static     # only these parts; the file's other parts are kept

Parts: ``throughput`` (below), ``curve`` (relative coverage against the share of note tokens sent, for top_k,
merged passages, budgets and the configured rule, on a tuning part and a reporting part of each corpus: the demo's
train and test splits, and two halves of the T2S2 reports chosen by hash), ``static`` (texts/s of
``retrieval.encoder=static`` and ``transformer`` on the same chunk texts in one run, and their coverage).

Corpora: synthetic MIMIC-length notes (6 demo notes from ``cts.data.demo.generate_corpus`` joined into one,
~2,100 words, whose events are known), the 108 MTSamples discharge summaries, the T2S2 sepsis sample (silver
timelines) and the demo corpus, the last three from ../shared/data and data/demo when present.

cts runs are the real ``run_notes`` in a subprocess (reading the CSV.gz, workers, Parquet parts and merge
included) whose whole process tree's RSS is polled; the naive baseline is rank-bm25 per note and the dense model
on every chunk of each note, in-process, on the same chunks. Dense-only coverage is read off the hybrid run
(same model, texts and scores as ``retrieval=dense``), so the model runs over every chunk once, not twice.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
from bench_io import RESULTS, write_result
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUERIES = ROOT / "conf" / "preprocess" / "queries"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from cts.data.demo import generate_corpus
from cts.data.notes import read_notes
from cts.hashing import hash_unit
from cts.retrieval.chunking import Chunker
from cts.retrieval.coverage import Policy, coverage, coverage_curve, load_reference, policies, summarize
from cts.retrieval.fusion import ranks, reciprocal_rank_fusion
from cts.retrieval.passages import Selection
from cts.retrieval.retriever import Retriever, load_queries

KS = [10, 30, 60]
TOP_K = 30  # the operating point (conf/retrieval top_k)
SAMPLE = 500  # notes for the slower bm25 engines
RUNNER = """
import json, sys
from cts.retrieval.chunking import Chunker
from cts.retrieval.pipeline import run_notes
from cts.retrieval.retriever import Retriever
args = json.loads(sys.argv[1])
retriever = Retriever(**{k: args.pop(k) for k in ("mode", "queries", "top_k", "bm25_engine")})
print(json.dumps(run_notes(retrieval=retriever, chunk=Chunker(), progress=False, overwrite=True, **args)))
"""


def synthetic_mimic(n_notes: int, per_note: int = 6, seed: int = 0) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """MIMIC-length notes: ``per_note`` demo notes joined; the events of all of them belong to the joined note."""
    notes, events = generate_corpus(n_notes * per_note, seed=seed)
    group = np.arange(len(notes)) // per_note
    joined = notes.groupby(group).agg({"note_id": "first", "subject_id": "first", "hadm_id": "first",
                                       "note_type": "first", "note_seq": "first", "charttime": "first",
                                       "storetime": "first", "text": "\n\n".join})
    owner = dict(zip(notes["hadm_id"], joined["hadm_id"].to_numpy()[group]))
    reference: dict[int, list[str]] = {}
    for hadm_id, event in zip(events["hadm_id"], events["event"].astype(str)):
        reference.setdefault(int(owner[hadm_id]), []).append(event)
    return joined.reset_index(drop=True), reference


def run_cts(input: Path, output: Path, mode: str, top_k: int | None = None, bm25_engine: str = "numpy",
            **stage) -> dict:
    """The real stage in a subprocess; adds the peak RSS of its whole process tree (main + workers)."""
    args = {"input": str(input), "output": str(output), "mode": mode, "queries": str(QUERIES), "top_k": top_k,
            "bm25_engine": bm25_engine, **stage}
    process = psutil.Popen([sys.executable, "-c", RUNNER, json.dumps(args)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak, cpu_before = 0, resource.getrusage(resource.RUSAGE_CHILDREN)
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"cts {mode} run failed:\n{err[-3000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {**summary, "peak_rss_gb": round(peak / 2**30, 3), "cpu_seconds": round(cpu, 2)}


def naive(notes: list, query_sets: list, model=None) -> dict:
    """The baseline: rank-bm25 per note (and the dense model on every chunk of each note), one note at a time."""
    from rank_bm25 import BM25Okapi

    chunker, encodings = Chunker(), 0
    started, cpu_started = time.perf_counter(), time.process_time()
    if model is not None:
        phrases = model.encode([p for q in query_sets for p in q.phrases], normalize_embeddings=True)
    for note in notes:
        chunks = chunker(note.text)
        bm25 = BM25Okapi(chunks.context_terms())
        score = np.max([bm25.get_scores(q.terms) for q in query_sets], axis=0)
        if model is not None:
            texts = [chunks.context_text(c) for c in range(len(chunks))]
            dense = (model.encode(texts, normalize_embeddings=True) @ phrases.T).max(axis=1)
            encodings += len(texts)
            score = reciprocal_rank_fusion([ranks(score, score > 0), ranks(dense)], [1.0, 1.0])
        np.argsort(-score, kind="stable")[:TOP_K]  # the per-note selection, as the stage does
    seconds = time.perf_counter() - started
    return {"notes_written": len(notes), "seconds": round(seconds, 3), "notes_per_s": round(len(notes) / seconds, 2),
            "dense_encodings": encodings, "cpu_seconds": round(time.process_time() - cpu_started, 2)}


def rerank(candidates: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rank rows by another score column (dense-only from the hybrid run's dense scores)."""
    ordered = candidates.sort_values(["hadm_id", column], ascending=[True, False], kind="stable").copy()
    ordered["rank"] = ordered.groupby("hadm_id").cumcount() + 1
    return ordered


def coverage_rows(dataset: str, runs: dict[str, Path], reference: dict[int, list[str]]) -> list[dict]:
    rows = []
    tables = {m: pq.read_table(p, columns=["hadm_id", "rank", "context", "n_chunks", "dense"]).to_pandas()
              for m, p in runs.items()}
    tables["dense"] = rerank(tables["hybrid"], "dense")
    for method in ("bm25", "dense", "hybrid", "cascade"):
        result = coverage(tables[method], reference, KS)
        for row in result["by_k"]:
            rows.append({"dataset": dataset, "method": method, "notes": result["notes"], "events": result["events"],
                         **row})
    return rows


def throughput_row(dataset: str, method: str, summary: dict, engine: str) -> dict:
    notes = summary["notes_written"]
    return {"dataset": dataset, "method": method, "engine": engine, "notes": notes,
            "notes_per_s": summary["notes_per_s"],
            # contention-free estimate: notes per CPU-second of the whole process tree, times this box's 2 cores
            "notes_per_s_2_idle_cores":
                round(2 * notes / summary["cpu_seconds"], 1) if summary["cpu_seconds"] else None,
            "dense_encodings": summary["dense_encodings"],
            "encodings_per_note": round(summary["dense_encodings"] / max(notes, 1), 1),
            "chunks_per_note": round(summary["chunks"] / max(notes, 1), 1) if "chunks" in summary else None,
            "peak_rss_gb": summary.get("peak_rss_gb")}


def measure_corpus(name: str, path: Path, work: Path, dense_notes: int, reference: dict | None,
                   throughput: list, coverage_table: list, workers: int = 2) -> None:
    """chunk+BM25 streamed over the whole file; hybrid and cascade over ``dense_notes``; naive beside each."""
    notes = list(read_notes(path))
    query_sets = load_queries(QUERIES)
    bm25 = run_cts(path, work / f"{name}-bm25.parquet", "bm25", top_k=TOP_K, workers=workers)
    throughput.append(throughput_row(name, "chunk+bm25", bm25, f"cts ({workers} workers, streamed)"))
    bm25s = run_cts(path, work / f"{name}-bm25s.parquet", "bm25", top_k=TOP_K, bm25_engine="bm25s",
                    workers=workers, limit=SAMPLE)
    throughput.append(throughput_row(name, "chunk+bm25", bm25s, f"cts, bm25s engine ({workers} workers)"))
    throughput.append(throughput_row(name, "chunk+bm25", naive(notes[:SAMPLE], query_sets), "naive rank-bm25"))
    runs = {"bm25": work / f"{name}-bm25-subset.parquet"}
    run_cts(path, runs["bm25"], "bm25", workers=0, limit=dense_notes)
    for mode in ("hybrid", "cascade"):
        runs[mode] = work / f"{name}-{mode}.parquet"
        throughput.append(throughput_row(name, mode, run_cts(path, runs[mode], mode, workers=1, limit=dense_notes),
                                         "cts"))
    from sentence_transformers import SentenceTransformer

    from cts.retrieval.dense import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu")
    throughput.append(throughput_row(name, "hybrid", naive(notes[:dense_notes], query_sets, model),
                                     "naive (per note, dense on every chunk)"))
    if reference is not None:
        coverage_table.extend(coverage_rows(name, runs, reference))



def configured_retrieval(*overrides: str) -> dict:
    """The retrieval config group as ``preprocess.py`` composes it (the shipped default), with ``overrides``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("preprocess", overrides=["stage=notes", *overrides])
    settings = OmegaConf.to_container(cfg.retrieval, resolve=True)
    settings.pop("_target_")
    return settings


def corpus_parts(demo: Path, t2s2: Path, demo_tune: int) -> dict[str, tuple[list, dict, dict[str, set]]]:
    """Per corpus: notes, reference, and the admissions of its tuning and reporting parts. The demo's parts are
    its train (the first ``demo_tune`` admissions) and test splits; T2S2's, the 5 reports of lowest and highest
    hash (seed 13): the rule is chosen on ``tune`` and reported on ``report``."""
    corpora = {}
    if (demo / "notes.csv.gz").exists():
        splits = pd.read_parquet(demo / "splits.parquet")
        parts = {"tune": set(splits.loc[splits["split"] == "train", "hadm_id"].head(demo_tune).astype(int)),
                 "report": set(splits.loc[splits["split"] == "test", "hadm_id"].astype(int))}
        notes = [n for n in read_notes(demo / "notes.csv.gz") if n.hadm_id in parts["tune"] | parts["report"]]
        corpora["demo"] = (notes, load_reference(demo / "events.parquet"), parts)
    if t2s2.exists():
        reference = load_reference(t2s2 / "l33_70b_annotations")
        ids = np.array(sorted(reference))
        order = ids[np.argsort(hash_unit(ids, 13), kind="stable")].tolist()
        half = len(order) // 2
        corpora["t2s2-sepsis10"] = (list(read_notes(t2s2 / "body")), reference,
                                    {"tune": set(order[:half]), "report": set(order[half:])})
    return corpora


def curve_part(corpora: dict) -> list[dict]:
    """The coverage-per-token curve for each corpus part: BM25 scores as they are and smoothed as configured, and
    the configured rule on cascade with the static encoder; with the MiniLM encoder (the configured default) on
    T2S2 only (60 encodings per note there; the demo's 8,900 would take the shared box most of an hour)."""
    chunker, rows = Chunker(), []
    default = configured_retrieval()
    setups = {"bm25": configured_retrieval("retrieval=bm25", "retrieval.smooth_chunks=0"),
              f"bm25, smooth_chunks={default['smooth_chunks']}": configured_retrieval("retrieval=bm25"),
              f"{default['mode']}, encoder=static": configured_retrieval("retrieval.encoder=static"),
              f"{default['mode']}, encoder={default['encoder']}": default}
    for corpus, (notes, reference, parts) in corpora.items():
        for setup, settings in setups.items():
            if corpus == "demo" and setup.endswith("encoder=transformer"):
                continue
            retriever = Retriever(**settings)
            grid = policies(budgets=(0.3, 0.4, 0.5, 0.6, 0.7), default=retriever.selection)
            frame, _ = coverage_curve(notes, reference, retriever, chunker, grid)
            for part, admissions in parts.items():
                for row in summarize(frame[frame["hadm_id"].isin(admissions)]):
                    rows.append({"dataset": corpus, "part": part, "retrieval": setup, **row})
            print(f"curve: {corpus} / {setup} done", flush=True)
    return rows


def static_part(corpora: dict, mtsamples: Path, texts_n: int, mts_notes: int, dense_notes: int) -> dict:
    """``encoder=static`` against ``transformer``: texts/s on the same chunk texts, one after the other in this
    run; relative coverage on each corpus's reporting part — dense ranking alone (top_k=30 windows; the demo's
    first ``dense_notes`` reporting notes: every chunk is embedded) and the configured cascade and selection; on
    MTSamples (no reference events) the share of the transformer's top-30 dense chunks the static model keeps."""
    chunker = Chunker()
    notes = corpora["demo"][0] if "demo" in corpora else list(read_notes(mtsamples))
    texts = [chunks.context_text(c) for n in notes for chunks in [chunker(n.text)] for c in range(len(chunks))]
    texts = texts[:texts_n]
    encoders, speed = {}, {}
    for kind in ("static", "transformer"):
        retriever = Retriever(**configured_retrieval("retrieval=dense", f"retrieval.encoder={kind}"))
        encoder = retriever.encoder
        started = time.perf_counter()
        encoder.encode(texts[:8], count=False)  # load (static: from the cache, distilled once) + warm up
        load = time.perf_counter() - started
        started = time.perf_counter()
        encoder.encode(texts, count=False)
        seconds = time.perf_counter() - started
        speed[kind] = {"texts": len(texts), "seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 1),
                       "load_seconds": round(load, 2)}
        encoders[kind] = encoder
    result = {"speed": speed, "speedup": round(speed["static"]["texts_per_s"] / speed["transformer"]["texts_per_s"], 1),
              "coverage": [], "agreement": None}
    for corpus, (all_notes, reference, parts) in corpora.items():
        report_notes = [n for n in all_notes if n.hadm_id in parts["report"]]
        rankings = [("configured", [])]
        if corpus == "demo":  # T2S2 notes have ~800 chunks each: dense on every chunk is too slow here
            rankings.insert(0, ("dense, top_k=30 windows", ["retrieval=dense"]))
        for kind, encoder in encoders.items():
            for label, overrides in rankings:
                retriever = Retriever(**configured_retrieval(*overrides, f"retrieval.encoder={kind}"))
                retriever.encoder = encoder  # the loaded model
                grid = [Policy("top_k=30 windows", Selection(top_k=30), merged=False)] if label.startswith("dense") \
                    else [Policy("configured", retriever.selection)]
                scored = report_notes[:dense_notes] if label.startswith("dense") else report_notes
                frame, _ = coverage_curve(scored, reference, retriever, chunker, grid)
                result["coverage"].append({"dataset": corpus, "part": "report", "encoder": kind, "ranking": label,
                                           **summarize(frame)[0]})
        print(f"static: {corpus} done", flush=True)
    if mtsamples.exists():
        kept = {}
        mts = list(read_notes(mtsamples))[:mts_notes]
        for kind, encoder in encoders.items():
            retriever = Retriever(**configured_retrieval("retrieval=dense", "retrieval.top_k=30",
                                                         "retrieval.budget=null", "retrieval.smooth_chunks=0",
                                                         "retrieval.whole_note_tokens=0", f"retrieval.encoder={kind}"))
            retriever.encoder = encoder
            ranked = retriever.rank([retriever.lexical(n, chunker(n.text)) for n in mts])
            kept[kind] = [set(r.kept.tolist()) for r in ranked]
        overlap = [len(a & b) / max(len(b), 1) for a, b in zip(kept["static"], kept["transformer"])]
        result["agreement"] = {"dataset": "mtsamples", "notes": len(mts), "top_k": 30,
                               "share_of_transformer_top_k_kept_by_static": round(float(np.mean(overlap)), 4)}
    return result


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("dataset", "method", "engine") else "right")
    for row in rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c)) for c in columns))
    Console(width=200).print(table)


def throughput_part(args) -> dict:
    """notes/s, encodings and peak RSS of cts against the naive baseline, and coverage at k of each mode."""
    throughput, coverage_table = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frame, reference = synthetic_mimic(args.notes)
        synthetic = work / "discharge.csv.gz"
        frame.to_csv(synthetic, index=False, compression="gzip")
        words = frame["text"].str.split().str.len()
        measure_corpus("synthetic-mimic", synthetic, work, args.dense_notes, reference, throughput, coverage_table)
        if args.mtsamples.exists():
            # 108 notes: in-process, as 2 workers' start-up would dominate the time
            measure_corpus("mtsamples", args.mtsamples, work, args.dense_notes, None, throughput, coverage_table,
                           workers=0)
        if args.t2s2.exists():
            runs = {m: work / f"t2s2-{m}.parquet" for m in ("bm25", "hybrid", "cascade")}
            for mode, path in runs.items():
                run_cts(args.t2s2 / "body", path, mode, workers=0)
            coverage_table += coverage_rows("t2s2-sepsis10", runs, load_reference(args.t2s2 / "l33_70b_annotations"))
        if (args.demo / "notes.csv.gz").exists():
            runs = {m: work / f"demo-{m}.parquet" for m in ("bm25", "hybrid", "cascade")}
            for mode, path in runs.items():
                run_cts(args.demo / "notes.csv.gz", path, mode, workers=0, limit=args.demo_notes)
            coverage_table += coverage_rows("demo", runs, load_reference(args.demo / "events.parquet"))

    def find(dataset, method, engine_prefix, table=throughput):
        return next(r for r in table if r["dataset"] == dataset and r["method"] == method
                    and r["engine"].startswith(engine_prefix))

    def cover(dataset, method, k=TOP_K):
        return next(r["coverage"] for r in coverage_table
                    if (r["dataset"], r["method"], r["k"]) == (dataset, method, k))

    hybrid, cascade = find("synthetic-mimic", "hybrid", "cts"), find("synthetic-mimic", "cascade", "cts")
    targets = {
        "chunk+bm25 notes/s, wall on the shared box (target >= 200)":
            find("synthetic-mimic", "chunk+bm25", "cts (")["notes_per_s"],
        "chunk+bm25 notes/s, per CPU-second x 2 cores":
            find("synthetic-mimic", "chunk+bm25", "cts (")["notes_per_s_2_idle_cores"],
        "dense encodings, dense-on-every-chunk / cascade (target >= 5)":
            round(hybrid["dense_encodings"] / max(cascade["dense_encodings"], 1), 2),
        f"coverage@{TOP_K} points, cascade - hybrid (target >= -2)":
            round(100 * (cover("synthetic-mimic", "cascade") - cover("synthetic-mimic", "hybrid")), 2),
        "peak RSS GB while streaming (target <= 4)": max(r["peak_rss_gb"] or 0 for r in throughput),
    }
    print_table("notes/s (2-core shared CPU dev box)", throughput,
                ["dataset", "method", "engine", "notes", "notes_per_s", "notes_per_s_2_idle_cores",
                 "encodings_per_note", "chunks_per_note", "peak_rss_gb"])
    print_table(f"coverage of reference events at k={TOP_K} and with every kept chunk",
                [r for r in coverage_table if r["k"] in (TOP_K, "all")],
                ["dataset", "method", "k", "coverage", "share_kept", "notes", "events"])
    return {"synthetic_words_per_note": round(float(words.mean()), 1), "targets": targets, "throughput": throughput,
            "coverage": coverage_table}


PARTS = ("throughput", "curve", "static")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--notes", type=int, default=3000, help="synthetic MIMIC-length notes streamed (chunk+BM25)")
    parser.add_argument("--dense-notes", type=int, default=10, help="notes per corpus for hybrid/cascade/naive dense")
    parser.add_argument("--demo-notes", type=int, default=40, help="demo notes for the coverage comparison")
    parser.add_argument("--demo-tune", type=int, default=60, help="demo train admissions in the curve's tuning part")
    parser.add_argument("--static-texts", type=int, default=1000, help="chunk texts for the encoders' texts/s")
    parser.add_argument("--mts-notes", type=int, default=15, help="MTSamples notes for the encoders' agreement")
    parser.add_argument("--static-dense-notes", type=int, default=25,
                        help="demo reporting notes ranked by each encoder alone (every chunk embedded)")
    parser.add_argument("--mtsamples", type=Path, default=SHARED / "notes" / "mtsamples_discharge_summary.csv")
    parser.add_argument("--t2s2", type=Path, default=SHARED / "timelines" / "t2s2_sepsis10")
    parser.add_argument("--demo", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=RESULTS / "notes.json")
    args = parser.parse_args()
    parts = args.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    started, load_at_start = time.perf_counter(), os.getloadavg()
    result = json.loads(args.out.read_text()) if args.out.exists() and set(parts) != set(PARTS) else {}
    if "throughput" in parts:
        result.update(throughput_part(args), load_average_at_start=load_at_start)
    corpora = corpus_parts(args.demo, args.t2s2, args.demo_tune) if {"curve", "static"} & set(parts) else {}
    if "curve" in parts:
        result["curve"] = {"load_average_at_start": os.getloadavg(), "rows": curve_part(corpora)}
        print_table("relative coverage against the share of note tokens sent (tuning and reporting parts)",
                    [r for r in result["curve"]["rows"] if r["policy"].startswith(("budget=0.5", "configured",
                                                                                    "top_k=30", "whole"))],
                    ["dataset", "part", "retrieval", "policy", "relative_coverage", "token_share", "notes", "events"])
    if "static" in parts:
        result["static"] = {"load_average_at_start": os.getloadavg(),
                            **static_part(corpora, args.mtsamples, args.static_texts, args.mts_notes,
                                                        args.static_dense_notes)}
        print_table("encoder=static vs transformer: texts/s on the same texts", [
            {"encoder": k, **v} for k, v in result["static"]["speed"].items()],
            ["encoder", "texts", "texts_per_s", "load_seconds"])
        print_table("encoder=static vs transformer: relative coverage on the reporting parts",
                    result["static"]["coverage"],
                    ["dataset", "encoder", "ranking", "relative_coverage", "token_share", "notes", "events"])
        print(f"static agreement: {result['static']['agreement']}")
    result.update({
        "machine": "2-core shared CPU dev box", "cpu": platform.processor() or platform.machine(),
        "load_average_at_end": os.getloadavg(), "cores": psutil.cpu_count(), "python": platform.python_version(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds": round(time.perf_counter() - started, 1),
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    if "throughput" in parts:
        for name, value in result["targets"].items():
            print(f"{name}: {value}")
    print(f"\nwrote {args.out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
