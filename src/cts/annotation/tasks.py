"""The three LLM stages as tasks: what to ask for one note, and what to store for an admission from the answers.

``events`` (the timeline, stage=annotate), ``context`` (a short context per chunk, stage=context) and ``summary``
(a discharge-summary summary, stage=summary) share the runner, the backends and the output format. Each note is
asked about on its own (its own text, its own chunks); an admission with several notes gets one record that keeps
every note's id and merges their answers explicitly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pandas as pd

from cts.annotation.backends import Backend, BackendError, Failure, Generation
from cts.annotation.parsing import merge_events, parse_output
from cts.annotation.prompts import Prompt
from cts.annotation.windows import Window, owner, plan_passages, plan_windows
from cts.data.notes import Note


@dataclass
class Requests:
    """The prompts for one admission, with what each refers to (window index or chunk id)."""

    messages: list[list[dict]] = field(default_factory=list)
    refs: list = field(default_factory=list)
    windows: int = 0
    note: str = ""  # why no request was made, when none was


@dataclass
class Answered:
    """One note of an admission: its requests and the generations that answer them, in order."""

    note: Note
    requests: Requests
    generations: list[Generation]


class Task:
    kind = ""
    needs_chunks = False

    def __init__(self, prompt: Prompt, backend: Backend):
        self.prompt, self.backend = prompt, backend

    def _windows(self, note: Note, reserve: int = 0, share: int = 1, **fields):
        """Windows whose text fits the prompt with ``reserve`` tokens for chunks; ``share`` splits the rest."""
        overhead = self.backend.count_prompt_tokens(self.prompt.messages("", **fields))
        budget = (self.backend.max_prompt_tokens - overhead - reserve) // share
        return plan_windows(note.text, self.backend.token_spans(note.text), budget, self.backend.window_overlap)

    def note_windows(self, note: Note) -> tuple[list[Window], Requests]:
        """The windows of the whole note and one prompt per window (what is sent without candidates)."""
        windows = self._windows(note)
        return windows, Requests([self.prompt.messages(note.text[w.start:w.end]) for w in windows],
                                 list(range(len(windows))), len(windows))

    def _per_window(self, note: Note) -> Requests:
        """One prompt per window of the whole note."""
        return self.note_windows(note)[1]

    def annotate(self, admissions: list[list[Note]]) -> list[dict]:
        """In memory, without output files: the record of each admission from its whole notes (``candidates=none``),
        all prompts generated in one batched call. Remote failures raise (no partial record)."""
        requests = [[self.requests(n, None) for n in notes] for notes in admissions]
        flat = [m for per_admission in requests for r in per_admission for m in r.messages]
        generations = iter(self.backend.generate(flat) if flat else [])
        records = []
        for notes, per_note in zip(admissions, requests):
            answered = [Answered(n, r, list(itertools.islice(generations, len(r.messages))))
                        for n, r in zip(notes, per_note)]
            failed = next((g for a in answered for g in a.generations if isinstance(g, Failure)), None)
            if failed is not None:
                raise BackendError(f"admission {notes[0].hadm_id}: {failed.status}: {failed.message}")
            records.append(self.record(answered))
        return records

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        raise NotImplementedError

    def record(self, notes: list[Answered]) -> dict:
        """The stored fields of one admission (every note's answers merged) with its ``counts``."""
        raise NotImplementedError


class EventsTask(Task):
    """Events with hours from admission: from the whole note without candidates; with candidates, from the passages
    retrieved (``passage_start``/``passage_end``), or from the numbered chunks beside the whole note when the
    prompt has no ``user_passages`` or the candidates no passages (files from before passages)."""

    kind = "events"

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        if chunks is None:
            return self._per_window(note)
        if chunks.empty:
            return Requests(note="no candidate chunks")
        if self.prompt.user_passages is not None and "passage_start" in chunks:
            return self._passages(note, chunks)
        if self.prompt.max_chunks:
            chunks = chunks.nsmallest(self.prompt.max_chunks, "rank", keep="first")
        chunks = chunks.sort_values(["start", "chunk_id"], kind="stable")
        windows = self._windows(note, share=2, chunks=[])  # the chunks repeat at most the window's text
        owners = [owner(windows, int(s)) for s in chunks["start"]]
        out = Requests(windows=len(windows))
        for k, window in enumerate(windows):
            rows = [row for row, o in zip(chunks.to_dict("records"), owners) if o == k]
            if rows:
                out.messages.append(self.prompt.messages(note.text[window.start:window.end], rows))
                out.refs.append(k)
        return out

    def _passages(self, note: Note, chunks: pd.DataFrame) -> Requests:
        """One prompt per group of passages that fits the budget; a single passage of the whole note is the note."""
        spans = sorted(set(zip(chunks["passage_start"].tolist(), chunks["passage_end"].tolist())))
        if spans == [(0, len(note.text))]:
            return self._per_window(note)
        overhead = self.backend.count_prompt_tokens(self.prompt.messages("", passages=[]))
        budget = self.backend.max_prompt_tokens - overhead
        groups = plan_passages(note.text, self.backend.token_spans(note.text), spans, budget,
                               self.backend.window_overlap)
        messages = [self.prompt.messages("", passages=[note.text[a:b] for a, b in group]) for group in groups]
        return Requests(messages, list(range(len(groups))), len(groups))

    def record(self, notes: list[Answered]) -> dict:
        """Events merged window by window within a note, then note by note (first mention kept, with its note id);
        exact repeats (same text case-folded, same hours) are counted as duplicates, across notes separately."""
        events, event_notes, rejects, said_none, within_notes, per_note = [], [], [], 0, 0, 0
        for answered in notes:
            parts = []
            for window, generation in zip(answered.requests.refs, answered.generations):
                parsed = parse_output(generation.text, truncated=generation.finish_reason == "length")
                parts.append(parsed.events)
                said_none += parsed.said_none
                rejects += [{"note_id": answered.note.note_id, "window": window, "reason": r.reason, "line": r.line}
                            for r in parsed.rejects]
            own, within = merge_events(parts)
            events, _ = merge_events([events, own])
            within_notes += within
            per_note += len(own)
            event_notes += [answered.note.note_id] * (len(events) - len(event_notes))
        across = per_note - len(events)
        return {"events": [{"event": e, "time": t, "note_id": n} for (e, t), n in zip(events, event_notes)],
                "rejects": rejects,
                "counts": {"events": len(events), "rejects": len(rejects), "duplicates": within_notes + across,
                           "duplicates across notes": across, "said_none": said_none}}


class ContextTask(Task):
    """A short context per chunk, written with the note window that holds the chunk."""

    kind = "context"
    needs_chunks = True

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        if chunks is None or chunks.empty:
            return Requests(note="no chunks")
        chunks = chunks.sort_values(["start", "chunk_id"], kind="stable")
        longest = max(len(self.backend.token_spans(t)) for t in chunks["text"])
        windows = self._windows(note, reserve=longest, chunk="")
        out = Requests(windows=len(windows))
        for chunk_id, start, text in zip(chunks["chunk_id"], chunks["start"], chunks["text"]):
            window = windows[owner(windows, int(start))]
            out.messages.append(self.prompt.messages(note.text[window.start:window.end], chunk=text))
            out.refs.append(chunk_id.item() if hasattr(chunk_id, "item") else chunk_id)
        return out

    def record(self, notes: list[Answered]) -> dict:
        contexts = [{"note_id": a.note.note_id, "chunk_id": ref, "context": g.text.strip()}
                    for a in notes for ref, g in zip(a.requests.refs, a.generations)]
        return {"contexts": contexts, "counts": {"contexts": len(contexts),
                                                 "empty": sum(not c["context"] for c in contexts)}}


class SummaryTask(Task):
    """A short summary of the hospital course; long notes are summarized per window and the parts joined."""

    kind = "summary"

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        return self._per_window(note)

    def record(self, notes: list[Answered]) -> dict:
        """One summary per admission: the notes' summaries (window parts joined) in note order."""
        summary = "\n".join(g.text.strip() for a in notes for g in a.generations if g.text.strip())
        return {"summary": summary, "counts": {"empty": int(not summary)}}


TASKS = {task.kind: task for task in (EventsTask, ContextTask, SummaryTask)}
