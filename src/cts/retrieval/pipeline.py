"""``preprocess.py stage=notes``: stream notes → chunk → retrieve → candidates Parquet, resumable and sharded.

Each batch of notes becomes one Parquet part written atomically beside the output (``<output>.parts/``); a
finished run merges the parts into the output, one row group per batch. A rerun (after a crash, a kill or a
requeue) skips every note already in the output or its parts, so each note is written exactly once. Shards
split notes by admission (:mod:`cts.sharding`, the rule annotation uses), so shard outputs never overlap.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cts.data.notes import Note, NotesError, ReadStats, read_notes
from cts.io import atomic_path, output_set, recover, refuse_overwrite, write_json
from cts.progress import progress as progress_bar
from cts.retrieval.chunking import Chunker
from cts.retrieval.passages import passage_of
from cts.retrieval.retriever import Lexical, Ranked, Retriever
from cts.sharding import Shard

log = logging.getLogger(__name__)

SCHEMA = pa.schema([
    ("hadm_id", pa.int64()), ("note_id", pa.string()), ("chunk_id", pa.int32()),
    ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("context", pa.string()),
    ("neighbours", pa.string()), ("section", pa.string()), ("query", pa.string()),
    ("bm25", pa.float32()), ("dense", pa.float32()), ("score", pa.float64()), ("rank", pa.int32()),
    ("n_chunks", pa.int32()), ("passage_start", pa.int64()), ("passage_end", pa.int64()),
])
SETTINGS_KEY = b"cts.settings"


class PartStore:
    """The output file and its in-progress parts: what is done, atomic part writes, the final merge.

    ``overwrite`` marks the parts folder as a fresh start (``FRESH``): the earlier output is ignored, not deleted,
    so it stays whole until the merge replaces it, and a killed overwrite resumed without ``overwrite`` still starts
    from scratch. The merged output, the run summary and the parts' removal are one commit (``cts.io.output_set``):
    a run killed or out of disk space leaves the earlier output and the parts, never both merged rows and their
    parts (which a rerun would merge twice)."""

    FRESH = "FRESH"

    def __init__(self, output: Path, settings: dict, overwrite: bool = False):
        self.output = output
        self.parts = output.with_name(output.name + ".parts")
        self.metadata = {SETTINGS_KEY: json.dumps(settings, sort_keys=True).encode()}
        recover(output.parent)  # finish a merge that was killed after its commit record
        if overwrite:
            shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True, exist_ok=True)
        if overwrite:
            (self.parts / self.FRESH).touch()
        self.fresh = (self.parts / self.FRESH).exists()
        self.next_part = len(list(self.parts.glob("part-*.parquet")))

    def _existing(self) -> list[Path]:
        earlier = [self.output] if self.output.exists() and not self.fresh else []
        return earlier + sorted(self.parts.glob("part-*.parquet"))

    def done(self) -> set[str]:
        """Note ids already written; refuses files made with other settings (they would mix silently)."""
        done: set[str] = set()
        for path in self._existing():
            try:
                file = pq.ParquetFile(path)
            except (OSError, pa.ArrowInvalid) as err:
                raise NotesError(f"{path}: unreadable earlier output ({err}); "
                                 "delete it or run with stage.overwrite=true") from None
            if (file.schema_arrow.metadata or {}).get(SETTINGS_KEY) != self.metadata[SETTINGS_KEY]:
                raise ValueError(f"{path} was written with other chunk/retrieval settings; "
                                 "use another output= or stage.overwrite=true")
            done.update(file.read(columns=["note_id"]).column(0).unique().to_pylist())
        return done

    def write(self, table: pa.Table) -> None:
        path = self.parts / f"part-{self.next_part:06d}.parquet"
        self.next_part += 1
        with atomic_path(path) as temporary:
            pq.write_table(table.replace_schema_metadata(self.metadata), temporary, row_group_size=max(1, len(table)))

    def merge(self, summary_path: Path, summary: dict) -> None:
        """Output ← earlier output + parts, one row group per batch, and the summary beside it; the parts go in the
        same commit."""
        sources = self._existing()
        with output_set(self.output.parent, replace=[self.parts]) as staged:
            if sources != [self.output]:  # parts to add, a fresh start, or no output yet
                with pq.ParquetWriter(staged / self.output.name, SCHEMA.with_metadata(self.metadata)) as writer:
                    for path in sources:
                        file = pq.ParquetFile(path)
                        for group in range(file.num_row_groups):
                            writer.write_table(file.read_row_group(group).replace_schema_metadata(self.metadata))
            write_json(staged / summary_path.name, summary)


def candidates_table(ranked: list[Ranked]) -> pa.Table:
    """Kept chunks as rows; ``text``/``context``/``neighbours`` are verbatim slices of the note."""
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for result in ranked:
        chunks, note = result.lexical.chunks, result.lexical.note
        passage_start, passage_end = passage_of(chunks, result.kept)
        for rank, c in enumerate(result.kept.tolist(), start=1):
            start, end = chunks.span(c)
            context_start, context_end = chunks.context_span(c)
            neighbour_start, neighbour_end = chunks.neighbour_span(c)
            row = {
                "hadm_id": note.hadm_id, "note_id": note.note_id, "chunk_id": c, "start": start, "end": end,
                "text": note.text[start:end], "context": note.text[context_start:context_end],
                "neighbours": note.text[neighbour_start:neighbour_end],
                "section": chunks.sections[chunks.section[c]], "query": result.query[c],
                "bm25": float(result.lexical.bm25[c]), "dense": float(result.dense[c]),
                "score": float(result.score[c]), "rank": rank, "n_chunks": len(chunks),
                "passage_start": int(passage_start[rank - 1]), "passage_end": int(passage_end[rank - 1]),
            }
            for name, value in row.items():
                columns[name].append(value)
    dense = np.asarray(columns["dense"], dtype=np.float32)
    columns["dense"] = pa.array(dense, mask=np.isnan(dense))  # not embedded → null
    arrays = [pa.array(columns[f.name], type=f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


_WORKER: dict = {}


def _init_worker(chunker: Chunker, retriever: Retriever, max_tokens: int) -> None:
    _WORKER.update(chunker=chunker, retriever=retriever, max_tokens=max_tokens)


def _lexical_batch(notes: list[Note]) -> tuple[list[Lexical], list[tuple[str, str]]]:
    """Worker side: chunk and BM25 each note; too long or token-less notes come back as (reason, note) skips."""
    chunker, retriever, max_tokens = _WORKER["chunker"], _WORKER["retriever"], _WORKER["max_tokens"]
    results, skips = [], []
    for note in notes:
        chunks = chunker(note.text)
        if chunks.n_tokens > max_tokens:
            skips.append(("too_long", f"note {note.note_id} ({chunks.n_tokens:,} tokens > max_tokens={max_tokens:,})"))
        elif len(chunks) == 0:
            skips.append(("no_tokens", f"note {note.note_id}"))
        else:
            results.append(retriever.lexical(note, chunks))
    return results, skips


class _Ready:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


class _InProcess:
    """The pool's interface without processes (``workers=0``): simpler to debug, no start-up cost."""

    def __init__(self, initializer, initargs):
        initializer(*initargs)

    def apply_async(self, function, args):
        return _Ready(function(*args))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _shard_notes_count(input: str | Path, shard: Shard, limit: int | None) -> int:
    """Readable notes of this shard (at most ``limit``): the progress bar's total, from a quiet reading pass."""
    owned = 0
    try:
        for note in read_notes(input, ReadStats(quiet=True)):
            owned += shard.owns(note.hadm_id)
            if limit is not None and owned >= limit:
                break
    except NotesError:
        pass  # the main pass keeps what comes before the damage and reports it
    return owned


def run_notes(input: str | Path, output: str | Path, retrieval: Retriever, chunk: Chunker,
              shard: Shard | dict | None = None, batch_size: int = 64, workers: int = 2, max_tokens: int = 30000,
              limit: int | None = None, overwrite: bool = False, progress: bool = True) -> dict:
    """Write candidate chunks for every note of ``input`` (this shard's share) to ``output``; returns the summary."""
    shard = (shard if isinstance(shard, Shard) else Shard(**(shard or {}))).resolve()
    output = shard.path(Path(output))
    summary_path = output.with_name(output.stem + ".summary.json")
    refuse_overwrite([input], [output, output.with_name(output.name + ".parts"), summary_path])
    output.parent.mkdir(parents=True, exist_ok=True)
    stats, counts = ReadStats(), Counter()
    notes = read_notes(input, stats)  # a missing or unknown input fails here, before anything is written
    settings = {"chunk": chunk.settings(), "retrieval": retrieval.settings(), "max_tokens": max_tokens}
    store = PartStore(output, settings, overwrite)
    done = store.done()
    started = time.perf_counter()
    log.info("notes: %s → %s (shard %d/%d, mode %s, %d already done)", input, output, shard.index, shard.count,
             retrieval.mode, len(done))

    bar = progress_bar(_shard_notes_count(input, shard, limit) if progress else None, f"notes[{retrieval.mode}]",
                       "note", enabled=progress)

    def finish(batch_result) -> None:
        lexical, skips = batch_result
        for reason, where in skips:
            stats.skip(reason, where)
        ranked = retrieval.rank(lexical)
        table = candidates_table(ranked)
        if len(table):
            store.write(table)
        for result in ranked:
            if len(result.kept) == 0:  # no row in the output: a skip, not a written note
                stats.skip("no_retained_chunk", f"note {result.lexical.note.note_id}")
        counts.update(notes_written=sum(len(r.kept) > 0 for r in ranked),
                      chunks=sum(len(r.lexical.chunks) for r in ranked), kept=len(table))
        bar.update(len(lexical) + len(skips))

    pool_class = _InProcess if workers == 0 else multiprocessing.get_context("spawn").Pool
    pool_args = (workers,) if workers else ()
    error, seen, batch, pending = None, set(), [], deque()
    with pool_class(*pool_args, _init_worker, (chunk, retrieval, max_tokens)) as pool:
        def submit(notes: list[Note]) -> None:
            pending.append(pool.apply_async(_lexical_batch, (notes,)))
            while len(pending) > 2 * max(workers, 1):  # bounded read-ahead: memory stays flat on any corpus
                finish(pending.popleft().get())

        try:
            for note in notes:
                if not shard.owns(note.hadm_id):
                    counts["other_shard"] += 1
                    continue
                if limit is not None and counts["considered"] >= limit:
                    break
                counts["considered"] += 1
                if note.note_id in done:
                    counts["already_done"] += 1
                    bar.update(1)
                elif note.note_id in seen:
                    stats.skip("duplicate_note_id", f"note {note.note_id}")
                    bar.update(1)
                else:
                    seen.add(note.note_id)
                    batch.append(note)
                    if len(batch) >= batch_size:
                        submit(batch)
                        batch = []
        except NotesError as err:
            error = err  # finish and keep every note read before the damage, then report it
        if batch:
            submit(batch)
        while pending:
            finish(pending.popleft().get())
    bar.close()
    seconds = time.perf_counter() - started
    summary = {
        "input": str(input), "output": str(output), "shard": [shard.index, shard.count], "settings": settings,
        **stats.as_dict(), **{k: counts[k] for k in ("other_shard", "already_done", "notes_written", "chunks", "kept")},
        "dense_encodings": retrieval.encoder.encoded if retrieval.encoder else 0,
        "seconds": round(seconds, 3), "notes_per_s": round(counts["notes_written"] / seconds, 2) if seconds else None,
        "error": str(error) if error else None,
    }
    store.merge(summary_path, summary)
    log.info("notes: wrote %d notes, %d of %d chunks kept, skipped %s, %.1f notes/s; summary %s",
             counts["notes_written"], counts["kept"], counts["chunks"], dict(stats.skipped),
             summary["notes_per_s"] or 0, summary_path)
    if error:
        raise error
    return summary
