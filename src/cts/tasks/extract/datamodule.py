"""Note windows → their ``event | hours`` lines, in the annotator's own windows and prompt.

Each note is cut into the windows the annotator would send with ``candidates=null`` (the same ``EventsTask``, prompt
and token budget, on the model's tokenizer) and rendered with the model's chat template. Each reference event of the
admission is assigned to the window whose text matches it best: rapidfuzz's best partial alignment of the event in
each note (case-folded), then the window that owns that position (:func:`cts.annotation.windows.owner`). Events whose
best alignment scores below ``match_threshold`` are found in no window: counted, reported, never trained on. A
window's target lists its events in the order they appear in the text (a left-to-right reading), ``none`` when it
has none; lines that would pass ``max_new_tokens`` are dropped from the end, counted.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd

from cts.annotation.backends.hf import HFBackend
from cts.annotation.prompts import Prompt
from cts.annotation.tasks import EventsTask
from cts.annotation.windows import Window, owner
from cts.data.alignment import fold, locate
from cts.data.notes import Note
from cts.data.timelines import format_timeline
from cts.training.data import TaskDataModule
from cts.utils import announce

log = logging.getLogger(__name__)

# For a tokenizer trained on the train split (model presets): plain role markers, so the export has a chat template.
PLAIN_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                       "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
NO_EVENTS = "none"
COUNTS = ("windows", "events", "aligned", "unaligned", "cut_at_max_new_tokens")


class Admission:
    """What the test-end annotation needs: the notes and the reference timeline of one admission (a plain class,
    so Hydra hands it to the module as it is)."""

    def __init__(self, hadm_id: int, notes: list[Note], reference: list[tuple[str, float]]):
        self.hadm_id, self.notes, self.reference = hadm_id, notes, reference


def align_events(texts: list[str], windows: list[list[Window]], events: list[str], threshold: float
                 ) -> list[tuple[int, int, int] | None]:
    """Per event: ``(note, window, character position)`` of its best match over the notes, or None when no note
    matches it with a partial-ratio score of at least ``threshold`` (0–100)."""
    folded = [fold(text) for text in texts]
    out = []
    for event in events:
        where = locate(event, folded)
        if where is None or where[0] < threshold:
            out.append(None)
            continue
        _, note, position, _ = where
        out.append((note, owner(windows[note], position), position))
    return out


class ExtractDataModule(TaskDataModule):
    """Rows of the build: one per note (``hadm_id, note_id, text, events, hours``); tokenized rows: one per window.

    ``eval_limit``: test admissions annotated at test end (a seeded sample; null = all), ``val_limit`` likewise at
    each val epoch (0 = none: validation is the loss)."""

    task = "extract"
    columns = ("hadm_id", "note_id", "text", "events", "hours")

    def __init__(self, *args, prompt, max_prompt_tokens: int = 1536, window_overlap: float = 0.1,
                 max_new_tokens: int = 256, match_threshold: float = 90, eval_limit: int | None = None,
                 val_limit: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if self.spec.objective != "causal_lm":
            raise ValueError(f"task=extract generates text: it needs model=gpt or model=llama (a causal LM), not "
                             f"model={self.spec.family}")
        self.prompt = Prompt.from_config(prompt)
        self.max_prompt_tokens, self.window_overlap = int(max_prompt_tokens), float(window_overlap)
        self.max_new_tokens, self.match_threshold = int(max_new_tokens), float(match_threshold)
        self.eval_limit, self.val_limit = eval_limit, int(val_limit)
        if self.spec.max_length < self.max_prompt_tokens + self.max_new_tokens:
            raise ValueError(f"task=extract: model.max_length={self.spec.max_length} must hold a window's prompt and "
                             f"answer: task.max_prompt_tokens ({self.max_prompt_tokens}) + task.max_new_tokens "
                             f"({self.max_new_tokens}) = {self.max_prompt_tokens + self.max_new_tokens}")
        self.counts: dict[str, dict[str, int]] = {}

    def train_texts(self, frame: pd.DataFrame):
        prompt = self.prompt.messages("")
        return itertools.chain((m["content"] for m in prompt), frame["text"],
                               ("\n".join(events) for events in frame["events"]))

    def encoding_params(self) -> tuple:
        return (self.prompt.hash, self.max_prompt_tokens, self.window_overlap, self.max_new_tokens,
                self.match_threshold, PLAIN_CHAT_TEMPLATE)

    def backend(self, net=None) -> HFBackend:
        """The annotator's backend on this tokenizer (and ``net``): its windows, prompts and generation."""
        if self.tokenizer.chat_template is None:
            self.tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
        return HFBackend.from_loaded(net, self.tokenizer, name=self.spec.name, max_new_tokens=self.max_new_tokens,
                                     temperature=0.0, batch_size=self.eval_batch_size,
                                     max_prompt_tokens=self.max_prompt_tokens, window_overlap=self.window_overlap)

    def encode(self, frame: pd.DataFrame, split: str) -> dict:
        task = EventsTask(self.prompt, self.backend())
        tok = self.tokenizer
        columns = {"input_ids": [], "labels": [], **{name: [] for name in COUNTS}}
        for _, rows in frame.groupby("hadm_id", sort=False):
            notes = [Note(str(n), int(h), str(t)) for n, h, t in zip(rows["note_id"], rows["hadm_id"], rows["text"])]
            try:
                planned = [task.note_windows(note) for note in notes]
            except ValueError as err:
                raise ValueError(f"task=extract: {err} (here task.max_prompt_tokens={self.max_prompt_tokens}; the "
                                 f"prompt alone takes {self._overhead(task)} tokens of {self.spec.name}'s tokenizer)"
                                 ) from err
            events = list(rows["events"].iloc[0])
            hours = [float(h) for h in rows["hours"].iloc[0]]
            places = align_events([n.text for n in notes], [w for w, _ in planned], events, self.match_threshold)
            first = True
            for k, (_, requests) in enumerate(planned):
                for w, messages in enumerate(requests.messages):
                    mine = sorted((p[2], i) for i, p in enumerate(places) if p is not None and p[:2] == (k, w))
                    lines = [(events[i], hours[i]) for _, i in mine]
                    prompt = tok(task.backend.render(messages), add_special_tokens=False)["input_ids"]
                    target, cut = self._target(lines)
                    columns["input_ids"].append(prompt + target)
                    columns["labels"].append([-100] * len(prompt) + target)
                    for name, value in zip(COUNTS, (1, len(events) if first else 0, len(lines) - cut,
                                                    sum(p is None for p in places) if first else 0, cut)):
                        columns[name].append(value)
                    first = False
        return columns

    @staticmethod
    def _overhead(task: EventsTask) -> int:
        return task.backend.count_prompt_tokens(task.prompt.messages(""))

    def _target(self, lines: list[tuple[str, float]]) -> tuple[list[int], int]:
        """Target tokens (lines + end of text) within ``max_new_tokens``, and how many lines were dropped for it."""
        for keep in range(len(lines), -1, -1):
            text = format_timeline(lines[:keep]) if keep else NO_EVENTS
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            if len(ids) <= self.max_new_tokens or keep == 0:
                return ids[: self.max_new_tokens], len(lines) - keep
        raise AssertionError("unreachable")

    def prepare(self) -> None:
        already = self.tokenizer is not None
        super().prepare()
        if already:
            return
        for split, dataset in self.datasets.items():
            self.counts[split] = {name: int(np.sum(dataset.columns[name])) for name in COUNTS}
            c = self.counts[split]
            announce(f"extract {split}: {c['windows']:,} windows; of {c['events']:,} reference events "
                     f"{c['aligned']:,} aligned to a window, {c['unaligned']:,} found in no window (left out), "
                     f"{c['cut_at_max_new_tokens']:,} dropped past task.max_new_tokens")

    def admissions(self, split: str, limit: int | None) -> list[Admission]:
        """A seeded sample of ``limit`` admissions of the split (all when null), with notes and reference."""
        frame = self.frames[split]
        ids = pd.unique(frame["hadm_id"])
        if limit is not None and limit < len(ids):
            ids = np.sort(np.random.default_rng(self.sample_seed).choice(ids, size=int(limit), replace=False))
        out = []
        for hadm_id in ids:
            rows = frame[frame["hadm_id"] == hadm_id]
            notes = [Note(str(n), int(hadm_id), str(t)) for n, t in zip(rows["note_id"], rows["text"])]
            out.append(Admission(int(hadm_id), notes, list(zip(map(str, rows["events"].iloc[0]),
                                                               map(float, rows["hours"].iloc[0])))))
        return out

    def module_kwargs(self) -> dict:
        self.backend()  # the chat template, before the module copies the tokenizer's settings
        return {**super().module_kwargs(), "admissions": {"val": self.admissions("val", self.val_limit),
                                                           "test": self.admissions("test", self.eval_limit)}}
