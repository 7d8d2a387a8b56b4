"""Resumable, sharded runner: notes (+ candidate chunks) → one finished output file per admission.

Admissions of a shard are taken in input order (of their last note) in fixed blocks of ``block_size``; a block with
any unfinished admission is generated whole (or, for batch-invariant backends, just its unfinished admissions) and
only missing files are written. Blocks never depend on what is already done, so a run killed at any moment and rerun
writes exactly the outputs of an uninterrupted run (the manifest's ``created`` time and timings aside).

Every note of an admission is annotated on its own text and chunks, and the admission's record merges them. A
planning pass over the notes (quiet, ids only kept) finds each admission's notes, so they are grouped wherever they
sit in the input, and gives the progress bar its total.

An admission whose prompt the server refuses (HTTP 400: too long for its context...) or answers only unreadably is
recorded in ``DIR/_failures/<hadm_id>.json`` (status, kind, the prompt's hash and the server's message without the
prompt's words: never note text) and the run goes on; reruns skip it unless ``retry_failed=true``. A server that
is unusable (down, past its retry budget, wrong key) stops the run after the block's finished admissions are written.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import hydra
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf

import cts
from cts.annotation.backends import BackendError, Failure, Generation
from cts.annotation.consolidate import consolidate as consolidate_outputs
from cts.annotation.outputs import (
    AnnotationError,
    finished_ids,
    output_path,
    stale_temp_files,
    write_atomic,
)
from cts.annotation.prompts import Prompt
from cts.annotation.tasks import TASKS, Answered, Task
from cts.data.notes import Note, NotesError, ReadStats, read_notes
from cts.data.splits import SPLITS, read_splits
from cts.progress import progress
from cts.sharding import Shard
from cts.utils import announce

log = logging.getLogger(__name__)
CANDIDATE_COLUMNS = ("hadm_id", "chunk_id", "start", "end", "text")
FAILURES = "_failures"


@dataclass
class Admission:
    """All notes of one admission, in input order."""

    hadm_id: int
    notes: list[Note]


class Candidates:
    """Candidate chunks of this shard's notes, found by (admission, note) — by admission alone when the file has no
    ``note_id`` column, which only works for admissions with one note."""

    def __init__(self, path: str | Path, shard: Shard, extra: set[str] = frozenset()):
        self.path = path = Path(path)
        try:
            schema = pq.read_schema(path)
        except (OSError, ValueError) as err:
            raise AnnotationError(f"{path}: not a readable candidates Parquet file ({err})") from err
        names = schema.names
        for column in ("hadm_id", "start", "end"):
            if column in names and not pa.types.is_integer(schema.field(column).type):
                raise AnnotationError(
                    f"{path}: column {column!r} must hold integers, found {schema.field(column).type}")
        wanted = [*CANDIDATE_COLUMNS, *sorted(set(extra) - set(CANDIDATE_COLUMNS))]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise AnnotationError(f"{path}: missing candidate column(s) {missing}; found {names}")
        self.by_note = "note_id" in names
        optional = [c for c in ("rank", "note_id", "passage_start", "passage_end") if c in names]
        frame = pq.read_table(path, columns=[*wanted, *optional]).to_pandas()
        if "rank" not in frame:
            frame["rank"] = range(len(frame))
        frame = frame[shard.owns(frame["hadm_id"])]
        if self.by_note and frame["note_id"].isna().any():
            row = int(frame["note_id"].isna().to_numpy().argmax())
            raise AnnotationError(f"{path}: column 'note_id' is empty for admission {frame['hadm_id'].iloc[row]} "
                                  "(its chunks would be lost); rebuild the candidates with `preprocess.py stage=notes`")
        keys = ["hadm_id", "note_id"] if self.by_note else ["hadm_id"]
        self.groups = {(int(k[0]), str(k[1])) if self.by_note else int(k[0]): g
                       for k, g in frame.groupby(keys, sort=False)}

    def of(self, note: Note, notes_in_admission: int) -> pd.DataFrame:
        if self.by_note:
            return self.groups.get((note.hadm_id, note.note_id), _NO_CHUNKS)
        if notes_in_admission > 1:
            raise AnnotationError(
                f"{self.path}: no note_id column, and admission {note.hadm_id} has {notes_in_admission} notes, so its "
                "chunks cannot be told apart; rebuild the candidates with `python preprocess.py stage=notes`")
        return self.groups.get(note.hadm_id, _NO_CHUNKS)


def plan_admissions(path: Path, shard: Shard, limit: int | None, split: SplitFilter | None = None
                    ) -> dict[int, set[str]]:
    """This shard's admissions (of ``split`` when given; the first ``limit``, by first note) and their distinct note
    ids, from a quiet reading pass (the main pass counts and logs the skips). A damaged file ends the plan where it
    is cut: the main pass annotates what comes before and then reports the damage."""
    plan: dict[int, set[str]] = {}
    try:
        for note in read_notes(path, ReadStats(quiet=True)):
            if not shard.owns(note.hadm_id) or (split is not None and not split.keeps(note.hadm_id)):
                continue
            if note.hadm_id not in plan and limit is not None and len(plan) >= limit:
                continue
            plan.setdefault(note.hadm_id, set()).add(note.note_id)
    except NotesError:
        pass
    return plan


def group_admissions(path: Path, plan: dict[int, set[str]], stats: ReadStats, until_planned: bool = False
                     ) -> Iterator[Admission]:
    """Admissions of the plan as soon as their last note is read; a repeated note id is a counted skip.
    ``until_planned`` stops reading once every planned admission is out (a ``limit`` run on a large file)."""
    pending: dict[int, list[Note]] = {}
    finished: set[int] = set()
    for note in read_notes(path, stats):
        expected = plan.get(note.hadm_id)
        if expected is None:
            continue  # another shard's, or beyond the limit
        notes = pending.setdefault(note.hadm_id, [])
        if note.hadm_id in finished or any(n.note_id == note.note_id for n in notes):
            stats.skip("repeated note_id", f"note {note.note_id}")
            continue
        notes.append(note)
        if len(notes) == len(expected):
            finished.add(note.hadm_id)
            yield Admission(note.hadm_id, pending.pop(note.hadm_id))
            if until_planned and len(finished) == len(plan):
                return


class SplitFilter:
    """``split=train|val|test``: only admissions of that split of a ``splits.parquet`` (``hadm_id, split``), so an
    evaluation never annotates a training note. Admissions of other splits and admissions absent from the file are
    counted (absent ones are in no split: they are left out, and said so)."""

    def __init__(self, split: str, path: str | Path):
        if split not in SPLITS:
            raise AnnotationError(f"split={split!r}: choose one of {', '.join(SPLITS)} (or null for every admission)")
        path = Path(path)
        if not path.exists():
            raise AnnotationError(f"split={split}: no splits file at {path}; give splits=PATH (written by "
                                  "`python preprocess.py stage=splits input=EVENTS` or beside a built event table)")
        try:
            table = read_splits(path)
        except (OSError, ValueError) as err:
            raise AnnotationError(f"split={split}: {err}") from err
        self.split, self.path = split, path
        self.of = dict(zip(table["hadm_id"].astype("int64").tolist(), table["split"].astype(str).tolist()))
        self.counts: Counter = Counter()
        self._seen: set[int] = set()

    def keeps(self, hadm_id: int) -> bool:
        split = self.of.get(hadm_id)
        if hadm_id not in self._seen:
            self._seen.add(hadm_id)
            self.counts["kept" if split == self.split else "other splits" if split else "not in splits file"] += 1
        return split == self.split

    def describe(self) -> str:
        return (f"split={self.split} ({self.path}): {self.counts['kept']} admissions kept, "
                f"{self.counts['other splits']} of other splits skipped, {self.counts['not in splits file']} "
                "absent from the splits file skipped")


def resolve_splits(split: str | None, splits: str | None, notes: str | None, corpus_dir: str) -> SplitFilter | None:
    """The split filter: ``splits`` given, else the corpus's ``splits.parquet`` when annotating its notes."""
    if split is None:
        return None
    if splits is None and notes is not None:
        raise AnnotationError(f"split={split} needs splits=PATH (a splits.parquet of these admissions) when input= "
                              "is given")
    return SplitFilter(split, splits or Path(corpus_dir) / "splits.parquet")


def resolve_inputs(notes: str | None, candidates: str | None, corpus_dir: str) -> tuple[Path, Path | None]:
    """The notes and candidates to use: the given ones, else the corpus's (``corpus=``; its candidates if built);
    ``candidates=none`` annotates whole notes even where the corpus's candidates exist."""
    if isinstance(candidates, str) and candidates.lower() == "none":
        return resolve_inputs(notes, None, corpus_dir)[0], None
    if notes is not None:
        return Path(notes), Path(candidates) if candidates else None
    corpus = Path(corpus_dir)
    if not (corpus / "notes.csv.gz").exists():
        raise AnnotationError(f"{corpus}/notes.csv.gz not found: run `python preprocess.py stage=demo` (or, for "
                              "corpus=t2s2, `python preprocess.py corpus=t2s2 stage=import`) or set input=")
    default_candidates = corpus / "candidates.parquet"
    chosen = Path(candidates) if candidates else default_candidates if default_candidates.exists() else None
    return corpus / "notes.csv.gz", chosen


def failure_path(directory: Path, hadm_id: int) -> Path:
    return directory / FAILURES / f"{hadm_id}.json"


def failed_ids(directory: Path) -> set[int]:
    folder = directory / FAILURES
    return {int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()} if folder.is_dir() else set()


class Runner:
    """One shard of one task: reads, generates per block, writes finished files, counts everything."""

    def __init__(self, task: str, output: str | Path, llm: DictConfig, prompt: DictConfig, seed: int = 1234,
                 block_size: int = 16, retry_failed: bool = False):
        if task not in TASKS:
            raise AnnotationError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
        if block_size < 1:
            raise AnnotationError(f"block_size must be >= 1, got {block_size}")
        if "api_key" in llm:
            raise AnnotationError("llm.api_key is not a setting (Hydra would store it in the run folder): export "
                                  "OPENAI_API_KEY, or name another variable with llm.api_key_env")
        self.kind, self.output, self.llm_cfg, self.seed = task, Path(output), llm, seed
        self.prompt, self.block_size, self.retry_failed = Prompt.from_config(prompt), block_size, retry_failed
        self.task: Task | None = None
        self.counts: Counter = Counter()
        self.failures: list[dict] = []

    def _task(self) -> Task:
        """The backend is loaded only when there is something to generate (a finished resume loads nothing)."""
        if self.task is None:
            backend = hydra.utils.instantiate(self.llm_cfg, seed=self.seed)
            self.task = TASKS[self.kind](self.prompt, backend)
        return self.task

    def run(self, notes: Path, candidates: Path | None, shard: Shard, limit: int | None,
            split: SplitFilter | None = None) -> dict:
        if TASKS[self.kind].needs_chunks and candidates is None:
            raise AnnotationError(f"stage={self.kind} needs candidates=PATH (the chunks Parquet)")
        self.output.mkdir(parents=True, exist_ok=True)
        for hadm_id, temp in stale_temp_files(self.output):
            if hadm_id is None or shard.owns(hadm_id):
                temp.unlink(missing_ok=True)
                self.counts["stale temp files removed"] += 1
        done, failed = finished_ids(self.output), failed_ids(self.output)
        skip = done | (set() if self.retry_failed else failed)
        chunks = Candidates(candidates, shard, self.prompt.chunk_fields) if candidates else None
        inputs = {"notes": str(notes), "candidates": str(candidates) if candidates else None}
        plan = plan_admissions(notes, shard, limit, split)
        if split is not None:
            announce(f"annotate: {split.describe()}")
        stats, started = ReadStats(), time.perf_counter()
        bar = progress(len(plan), f"{self.kind} shard {shard}", "admission")
        admissions = group_admissions(notes, plan, stats, until_planned=limit is not None)
        stopped = None
        try:
            for block in iter(lambda: list(itertools.islice(admissions, self.block_size)), []):
                self._block(block, done, skip, chunks, inputs)
                bar.update(len(block))
                seconds = time.perf_counter() - started
                bar.set_postfix({"notes/s": f"{self.counts['written'] / seconds:.2f}",
                                 "tok/s": f"{self.counts['completion tokens'] / seconds:.1f}",
                                 "failed": self.counts["failed"]}, refresh=False)
        except BackendError as err:
            stopped = err  # the summary still says what this run did before the server failed
        bar.close()
        seconds = time.perf_counter() - started
        summary = {"kind": self.kind, "shard": {"index": shard.index, "count": shard.count},
                   "seconds": round(seconds, 3), "notes_per_s": round(self.counts["written"] / seconds, 4),
                   "tokens_per_s": round(self.counts["completion tokens"] / seconds, 2),
                   "counts": dict(self.counts), "failures": self.failures, "reader": stats.as_dict(),
                   "stopped": str(stopped) if stopped else None}
        runs = self.output / "_runs"
        runs.mkdir(exist_ok=True)
        write_atomic(runs / f"shard-{shard.index}-of-{shard.count}.json", summary)
        announce(f"annotate ({self.kind}) shard {shard}: {dict(self.counts)}; reader skipped "
                 f"{dict(stats.skipped)}; {summary['notes_per_s']} notes/s, {summary['tokens_per_s']} tokens/s")
        if self.failures:
            announce(f"annotate: {len(self.failures)} admission(s) failed, recorded in {self.output / FAILURES}/ "
                     f"(rerun with retry_failed=true to try them again): "
                     + ", ".join(f"{f['hadm_id']} ({f['status']})" for f in self.failures[:10]))
        if stopped:
            raise stopped
        return summary

    def _block(self, block: list[Admission], done: set[int], skip: set[int], chunks: Candidates | None,
               inputs: dict) -> None:
        missing = [a for a in block if a.hadm_id not in skip]
        self.counts["admissions"] += len(block)
        self.counts["notes"] += sum(len(a.notes) for a in block)
        self.counts["already done"] += sum(a.hadm_id in done for a in block)
        if skipped_failures := sum(a.hadm_id in skip and a.hadm_id not in done for a in block):
            self.counts["failed earlier, not retried"] += skipped_failures
        if missing:
            self._run_block(block, missing, chunks, inputs)

    def _run_block(self, block: list[Admission], missing: list[Admission], chunks: Candidates | None,
                   inputs: dict) -> None:
        task = self._task()
        todo = missing if task.backend.batch_invariant else block
        wanted = {a.hadm_id for a in missing}
        requests = [[task.requests(n, None if chunks is None else chunks.of(n, len(a.notes))) for n in a.notes]
                    for a in todo]
        flat = [m for per_admission in requests for r in per_admission for m in r.messages]
        generations = iter(task.backend.generate(flat) if flat else [])
        stopping: list[str] = []
        for admission, per_note in zip(todo, requests):
            answered = [Answered(n, r, list(itertools.islice(generations, len(r.messages))))
                        for n, r in zip(admission.notes, per_note)]
            if admission.hadm_id not in wanted:
                continue
            outputs = [g for a in answered for g in a.generations]
            failures = [g for g in outputs if isinstance(g, Failure)]
            self.counts["retries"] += sum(g.retries for g in outputs)
            if any(f.stops_run for f in failures):
                stopping.append(f"{admission.hadm_id}: {next(f.message for f in failures if f.stops_run)}")
            elif failures:
                self._record_failure(admission, failures[0], len(failures), len(outputs))
            else:
                self._write(admission, answered, inputs, task)
        if stopping:
            raise BackendError(f"the LLM server is unusable; stopped after writing this block's finished admissions "
                               f"({len(stopping)} not done, rerun to resume): {stopping[0]}")

    def _record_failure(self, admission: Admission, failure: Failure, failed: int, requests: int) -> None:
        entry = {"hadm_id": admission.hadm_id, "note_ids": [n.note_id for n in admission.notes],
                 "status": failure.status, "kind": failure.kind, "message": failure.message,
                 "prompt_hash": failure.prompt_hash, "failed_requests": failed, "requests": requests,
                 "created": datetime.now(UTC).isoformat(timespec="seconds")}
        (self.output / FAILURES).mkdir(exist_ok=True)
        write_atomic(failure_path(self.output, admission.hadm_id), entry)
        self.failures.append({k: entry[k] for k in ("hadm_id", "status", "kind", "message")})
        self.counts["failed"] += 1
        log.warning("admission %d failed (%s, %s, %d of %d requests); recorded in %s", admission.hadm_id,
                    failure.status, failure.kind, failed, requests, failure_path(self.output, admission.hadm_id))

    def _write(self, admission: Admission, answered: list[Answered], inputs: dict, task: Task) -> None:
        outputs: list[Generation] = [g for a in answered for g in a.generations]
        record = task.record(answered)
        manifest = {
            "hadm_id": admission.hadm_id, "note_ids": [a.note.note_id for a in answered], "kind": self.kind,
            "cts_version": cts.__version__, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "prompt": self.prompt.name, "prompt_hash": self.prompt.hash, "generation": task.backend.describe(),
            "inputs": inputs,
            "notes": [{"note_id": a.note.note_id, "windows": a.requests.windows, "requests": len(a.generations),
                       "no_request": a.requests.note or None} for a in answered],
            "requests": len(outputs), "retries": sum(g.retries for g in outputs),
            "prompt_tokens": sum(g.prompt_tokens for g in outputs),
            "completion_tokens": sum(g.completion_tokens for g in outputs),
            "hit_token_limit": sum(g.finish_reason == "length" for g in outputs),
        }
        write_atomic(output_path(self.output, admission.hadm_id),
                     {"manifest": manifest, **record, "outputs": [g.text for g in outputs]})
        failure_path(self.output, admission.hadm_id).unlink(missing_ok=True)  # a retried failure that now worked
        self.counts["written"] += 1
        self.counts["completion tokens"] += manifest["completion_tokens"]
        self.counts["prompt tokens"] += manifest["prompt_tokens"]
        self.counts["hit token limit"] += manifest["hit_token_limit"]
        for name, value in record["counts"].items():
            self.counts[name] += value
        for a in answered:
            if a.requests.note:
                self.counts[f"no request: {a.requests.note}"] += 1


_NO_CHUNKS = pd.DataFrame({c: [] for c in (*CANDIDATE_COLUMNS, "rank")})


def run(task: str, input: str | None, candidates: str | None, output: str, llm: DictConfig, prompt: DictConfig,
        shard: DictConfig, corpus_dir: str, seed: int = 1234, block_size: int = 16, limit: int | None = None,
        retry_failed: bool = False, consolidate: bool = True, split: str | None = None,
        splits: str | None = None) -> dict:
    """Entry point of stage=annotate|context|summary; an unsharded run also consolidates its outputs."""
    notes, chunks = resolve_inputs(input, candidates, corpus_dir)
    selected = resolve_splits(split, splits, input, corpus_dir)
    where = Shard(shard.get("index"), shard.get("count")).resolve()
    log.info("annotate %s: notes %s, candidates %s, output %s, shard %s, llm %s", task, notes, chunks, output,
             where, OmegaConf.to_container(llm).get("_target_"))
    summary = Runner(task, output, llm, prompt, seed, block_size, retry_failed).run(notes, chunks, where, limit,
                                                                                    selected)
    if consolidate and where.count == 1:
        summary["consolidated"] = consolidate_outputs(output)
    return summary
