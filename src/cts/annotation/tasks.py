"""The three LLM stages as tasks: what to ask for one admission, and what to store from the answers.

``events`` (the timeline, stage=annotate), ``context`` (a short context per chunk, stage=context) and ``summary``
(a discharge-summary summary, stage=summary) share the runner, the backends and the output format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cts.annotation.backends import Backend, Generation
from cts.annotation.parsing import merge_events, parse_output
from cts.annotation.prompts import Prompt
from cts.annotation.windows import owner, plan_windows
from cts.data.notes import Note


@dataclass
class Requests:
    """The prompts for one admission, with what each refers to (window index or chunk id)."""

    messages: list[list[dict]] = field(default_factory=list)
    refs: list = field(default_factory=list)
    windows: int = 0
    note: str = ""  # why no request was made, when none was


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

    def _per_window(self, note: Note) -> Requests:
        """One prompt per window of the whole note."""
        windows = self._windows(note)
        return Requests([self.prompt.messages(note.text[w.start:w.end]) for w in windows],
                        list(range(len(windows))), len(windows))

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        raise NotImplementedError

    def record(self, requests: Requests, generations: list[Generation]) -> dict:
        raise NotImplementedError


class EventsTask(Task):
    """Events with hours from admission; from the candidate chunks when given, else from the whole note."""

    kind = "events"

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        if chunks is None:
            return self._per_window(note)
        if chunks.empty:
            return Requests(note="no candidate chunks")
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

    def record(self, requests: Requests, generations: list[Generation]) -> dict:
        parts, rejects, said_none = [], [], 0
        for window, generation in zip(requests.refs, generations):
            parsed = parse_output(generation.text, truncated=generation.finish_reason == "length")
            parts.append(parsed.events)
            said_none += parsed.said_none
            rejects += [{"window": window, "reason": r.reason, "line": r.line} for r in parsed.rejects]
        events, duplicates = merge_events(parts)
        return {"events": [{"event": e, "time": t} for e, t in events], "rejects": rejects,
                "counts": {"events": len(events), "rejects": len(rejects), "duplicates": duplicates,
                           "said_none": said_none}}


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

    def record(self, requests: Requests, generations: list[Generation]) -> dict:
        contexts = [{"chunk_id": ref, "context": g.text.strip()} for ref, g in zip(requests.refs, generations)]
        return {"contexts": contexts, "counts": {"contexts": len(contexts),
                                                 "empty": sum(not c["context"] for c in contexts)}}


class SummaryTask(Task):
    """A short summary of the hospital course; long notes are summarized per window and the parts joined."""

    kind = "summary"

    def requests(self, note: Note, chunks: pd.DataFrame | None) -> Requests:
        return self._per_window(note)

    def record(self, requests: Requests, generations: list[Generation]) -> dict:
        summary = "\n".join(g.text.strip() for g in generations if g.text.strip())
        return {"summary": summary, "counts": {"empty": int(not summary)}}


TASKS = {task.kind: task for task in (EventsTask, ContextTask, SummaryTask)}
