"""Resumable, sharded runner: notes (+ candidate chunks) → one finished output file per admission.

Admissions of a shard are taken in input order in fixed blocks of ``block_size``; a block with any unfinished
admission is generated whole (or, for batch-invariant backends, just its unfinished admissions) and only missing
files are written. Blocks never depend on what is already done, so a run killed at any moment and rerun writes
exactly the outputs of an uninterrupted run (the manifest's ``created`` time and timings aside).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import hydra
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

import cts
from cts.annotation.consolidate import consolidate as consolidate_outputs
from cts.annotation.outputs import AnnotationError, finished_ids, output_path, stale_temp_files, write_atomic
from cts.annotation.prompts import Prompt
from cts.annotation.tasks import TASKS, Task
from cts.data.notes import Note, ReadStats, read_notes
from cts.utils import announce

log = logging.getLogger(__name__)
CANDIDATE_COLUMNS = ("hadm_id", "chunk_id", "start", "end", "text")


def resolve_shard(index: int | None, count: int | None) -> tuple[int, int]:
    """``shard.index/count`` when given, else the SLURM array task (``SLURM_ARRAY_TASK_ID/COUNT``), else 0 of 1."""
    if index is None and count is None and "SLURM_ARRAY_TASK_ID" in os.environ:
        if "SLURM_ARRAY_TASK_COUNT" not in os.environ:
            raise AnnotationError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: set shard.count")
        index = int(os.environ["SLURM_ARRAY_TASK_ID"]) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = int(os.environ["SLURM_ARRAY_TASK_COUNT"])
    index, count = (0 if index is None else int(index)), (1 if count is None else int(count))
    if count < 1 or not 0 <= index < count:
        raise AnnotationError(f"shard.index must be in [0, shard.count); got index={index}, count={count}")
    return index, count


def load_candidates(path: str | Path, index: int, count: int, extra: set[str] = frozenset()
                    ) -> dict[int, pd.DataFrame]:
    """Candidate chunks of this shard's admissions, grouped by admission, with the ``extra`` columns the prompt
    shows."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as err:
        raise AnnotationError(f"{path}: not a readable candidates Parquet file ({err})") from err
    names = schema.names
    for column in ("hadm_id", "start", "end"):
        if column in names and not pa.types.is_integer(schema.field(column).type):
            raise AnnotationError(f"{path}: column {column!r} must hold integers, found {schema.field(column).type}")
    wanted = [*CANDIDATE_COLUMNS, *sorted(set(extra) - set(CANDIDATE_COLUMNS))]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise AnnotationError(f"{path}: missing candidate column(s) {missing}; found {names}")
    frame = pq.read_table(path, columns=[*wanted, *(["rank"] if "rank" in names else [])]).to_pandas()
    if "rank" not in frame:
        frame["rank"] = range(len(frame))
    frame = frame[frame["hadm_id"] % count == index]
    return {int(h): g for h, g in frame.groupby("hadm_id", sort=False)}


def _shard_notes(path: Path, index: int, count: int, limit: int | None, stats: ReadStats):
    """This shard's admissions in input order: the first note of each admission (a later one is counted)."""
    seen: set[int] = set()
    for note in read_notes(path, stats):
        if note.hadm_id % count != index:
            continue
        if note.hadm_id in seen:
            stats.skip("another note of an annotated admission", f"note {note.note_id}")
            continue
        seen.add(note.hadm_id)
        yield note
        if limit is not None and len(seen) >= limit:
            return


def resolve_inputs(notes: str | None, candidates: str | None, demo_dir: str) -> tuple[Path, Path | None]:
    """The notes and candidates to use: the given ones, else the demo corpus (and its candidates if built)."""
    if notes is not None:
        return Path(notes), Path(candidates) if candidates else None
    demo = Path(demo_dir)
    if not (demo / "notes.csv.gz").exists():
        raise AnnotationError(f"{demo}/notes.csv.gz not found: run `python preprocess.py stage=demo` or set input=")
    default_candidates = demo / "candidates.parquet"
    chosen = Path(candidates) if candidates else default_candidates if default_candidates.exists() else None
    return demo / "notes.csv.gz", chosen


class Runner:
    """One shard of one task: reads, generates per block, writes finished files, counts everything."""

    def __init__(self, task: str, output: str | Path, llm: DictConfig, prompt: DictConfig, seed: int = 1234,
                 block_size: int = 16):
        if task not in TASKS:
            raise AnnotationError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
        if block_size < 1:
            raise AnnotationError(f"block_size must be >= 1, got {block_size}")
        self.kind, self.output, self.llm_cfg, self.seed = task, Path(output), llm, seed
        self.prompt, self.block_size = Prompt.from_config(prompt), block_size
        self.task: Task | None = None
        self.counts: Counter = Counter()

    def _task(self) -> Task:
        """The backend is loaded only when there is something to generate (a finished resume loads nothing)."""
        if self.task is None:
            backend = hydra.utils.instantiate(self.llm_cfg, seed=self.seed)
            self.task = TASKS[self.kind](self.prompt, backend)
        return self.task

    def run(self, notes: Path, candidates: Path | None, index: int, count: int, limit: int | None) -> dict:
        if TASKS[self.kind].needs_chunks and candidates is None:
            raise AnnotationError(f"stage={self.kind} needs candidates=PATH (the chunks Parquet)")
        self.output.mkdir(parents=True, exist_ok=True)
        for hadm_id, temp in stale_temp_files(self.output):
            if hadm_id is None or hadm_id % count == index:
                temp.unlink(missing_ok=True)
                self.counts["stale temp files removed"] += 1
        done = finished_ids(self.output)
        chunks = load_candidates(candidates, index, count, self.prompt.chunk_fields) if candidates else None
        inputs = {"notes": str(notes), "candidates": str(candidates) if candidates else None}
        stats, started = ReadStats(), time.perf_counter()
        progress = tqdm(desc=f"{self.kind} shard {index}/{count}", unit="note", dynamic_ncols=True)
        admissions = _shard_notes(notes, index, count, limit, stats)
        blocks = iter(lambda: list(itertools.islice(admissions, self.block_size)), [])
        for block in blocks:
            missing = [n for n in block if n.hadm_id not in done]
            self.counts["admissions"] += len(block)
            self.counts["already done"] += len(block) - len(missing)
            if missing:
                self._run_block(block, missing, chunks, inputs)
            progress.update(len(block))
            seconds = time.perf_counter() - started
            progress.set_postfix({"notes/s": f"{self.counts['written'] / seconds:.2f}",
                                  "tok/s": f"{self.counts['completion tokens'] / seconds:.1f}"}, refresh=False)
        progress.close()
        seconds = time.perf_counter() - started
        summary = {"kind": self.kind, "shard": {"index": index, "count": count}, "seconds": round(seconds, 3),
                   "notes_per_s": round(self.counts["written"] / seconds, 4),
                   "tokens_per_s": round(self.counts["completion tokens"] / seconds, 2),
                   "counts": dict(self.counts), "reader": stats.as_dict()}
        runs = self.output / "_runs"
        runs.mkdir(exist_ok=True)
        write_atomic(runs / f"shard-{index}-of-{count}.json", summary)
        announce(f"annotate ({self.kind}) shard {index}/{count}: {dict(self.counts)}; reader skipped "
                 f"{dict(stats.skipped)}; {summary['notes_per_s']} notes/s, {summary['tokens_per_s']} tokens/s")
        return summary

    def _run_block(self, block: list[Note], missing: list[Note], chunks, inputs: dict) -> None:
        task = self._task()
        todo = missing if task.backend.batch_invariant else block
        requests = [task.requests(n, None if chunks is None else chunks.get(n.hadm_id, _NO_CHUNKS)) for n in todo]
        flat = [m for r in requests for m in r.messages]
        generations = task.backend.generate(flat) if flat else []
        offsets = list(itertools.accumulate((len(r.messages) for r in requests), initial=0))
        wanted = {n.hadm_id for n in missing}
        for k, (note, request) in enumerate(zip(todo, requests)):
            if note.hadm_id not in wanted:
                continue
            outputs = generations[offsets[k]:offsets[k + 1]]
            record = task.record(request, outputs)
            manifest = {
                "hadm_id": note.hadm_id, "note_id": note.note_id, "kind": self.kind, "cts_version": cts.__version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "prompt": self.prompt.name, "prompt_hash": self.prompt.hash, "generation": task.backend.describe(),
                "inputs": inputs, "windows": request.windows, "requests": len(outputs),
                "prompt_tokens": sum(g.prompt_tokens for g in outputs),
                "completion_tokens": sum(g.completion_tokens for g in outputs),
                "hit_token_limit": sum(g.finish_reason == "length" for g in outputs),
                "no_request": request.note or None,
            }
            write_atomic(output_path(self.output, note.hadm_id),
                         {"manifest": manifest, **record, "outputs": [g.text for g in outputs]})
            self.counts["written"] += 1
            self.counts["completion tokens"] += manifest["completion_tokens"]
            self.counts["prompt tokens"] += manifest["prompt_tokens"]
            self.counts["hit token limit"] += manifest["hit_token_limit"]
            for name, value in record["counts"].items():
                self.counts[name] += value
            if request.note:
                self.counts[f"no request: {request.note}"] += 1


_NO_CHUNKS = pd.DataFrame({c: [] for c in (*CANDIDATE_COLUMNS, "rank")})


def run(task: str, input: str | None, candidates: str | None, output: str, llm: DictConfig, prompt: DictConfig,
        shard: DictConfig, demo_dir: str, seed: int = 1234, block_size: int = 16, limit: int | None = None,
        consolidate: bool = True) -> dict:
    """Entry point of stage=annotate|context|summary; an unsharded run also consolidates its outputs."""
    notes, chunks = resolve_inputs(input, candidates, demo_dir)
    index, count = resolve_shard(shard.get("index"), shard.get("count"))
    log.info("annotate %s: notes %s, candidates %s, output %s, shard %d/%d, llm %s", task, notes, chunks, output,
             index, count, OmegaConf.to_container(llm).get("_target_"))
    summary = Runner(task, output, llm, prompt, seed, block_size).run(notes, chunks, index, count, limit)
    if consolidate and count == 1:
        summary["consolidated"] = consolidate_outputs(output)
    return summary
