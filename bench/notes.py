"""Benchmark stage=notes: notes/s, dense encodings, coverage and peak RSS, side by side with a naive baseline.

    python bench/notes.py [--notes 3000] [--dense-notes 10] [--demo-notes 40] [--out bench/results/notes.json]

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
from bench_io import write_result
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUERIES = ROOT / "conf" / "preprocess" / "queries"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from cts.data.demo import generate_corpus
from cts.data.notes import read_notes
from cts.retrieval.chunking import Chunker
from cts.retrieval.coverage import coverage, load_reference
from cts.retrieval.fusion import ranks, reciprocal_rank_fusion
from cts.retrieval.retriever import load_queries

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


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("dataset", "method", "engine") else "right")
    for row in rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c)) for c in columns))
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=3000, help="synthetic MIMIC-length notes streamed (chunk+BM25)")
    parser.add_argument("--dense-notes", type=int, default=10, help="notes per corpus for hybrid/cascade/naive dense")
    parser.add_argument("--demo-notes", type=int, default=40, help="demo notes for the coverage comparison")
    parser.add_argument("--mtsamples", type=Path, default=SHARED / "notes" / "mtsamples_discharge_summary.csv")
    parser.add_argument("--t2s2", type=Path, default=SHARED / "timelines" / "t2s2_sepsis10")
    parser.add_argument("--demo", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "notes.json")
    args = parser.parse_args()
    throughput, coverage_table = [], []
    started, load_at_start = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "results") as tmp:
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
    result = {
        "machine": "2-core shared CPU dev box", "cpu": platform.processor() or platform.machine(),
        "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(),
        "cores": psutil.cpu_count(), "python": platform.python_version(),
        "synthetic_words_per_note": round(float(words.mean()), 1), "args": {k: str(v) for k, v in vars(args).items()},
        "targets": targets, "throughput": throughput, "coverage": coverage_table,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    print_table("notes/s (2-core shared CPU dev box)", throughput,
                ["dataset", "method", "engine", "notes", "notes_per_s", "notes_per_s_2_idle_cores",
                 "encodings_per_note", "chunks_per_note", "peak_rss_gb"])
    print_table(f"coverage of reference events at k={TOP_K} and with every kept chunk",
                [r for r in coverage_table if r["k"] in (TOP_K, "all")],
                ["dataset", "method", "k", "coverage", "share_kept", "notes", "events"])
    for name, value in targets.items():
        print(f"{name}: {value}")
    print(f"\nwrote {args.out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
