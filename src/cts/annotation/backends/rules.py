"""A non-LLM annotator: event phrases learned from train timelines, dated by relative-time rules (``llm=rules``).

The baseline an LLM annotator has to beat, run and scored like any other. It reads the note out of the prompt (the
text between the last pair of triple-quote lines, never the instructions, whose examples "chest pain" and "fever and
rash" must not be found), finds the phrases of a vocabulary learned from the train split
(:mod:`cts.annotation.event_dictionary`) and gives each the hours of where it sits in the narrative
(:mod:`cts.annotation.time_rules`). No model, deterministic, batch invariant. A whole note is one window (a large
``max_prompt_tokens``), because dates are read across the narrative ("3 days later" counts from the sentence before).
"""

from __future__ import annotations

import re

from cts.annotation.backends.base import Backend, Generation
from cts.annotation.event_dictionary import Vocabulary, age_event, load_vocabulary, patient_sex, phrase_key
from cts.annotation.narrative import story_text
from cts.annotation.time_rules import HOURS_PER_YEAR, DatedText, patient_age

_FENCE = re.compile(r'^[ \t]*"""[ \t]*$', re.MULTILINE)
_WORD = re.compile(r"\S+")


class PromptLayoutError(ValueError):
    """The prompt does not hold the note where the rules annotator reads it."""


def note_of(messages: list[dict]) -> str:
    """The note (window) of a prompt: the text between the last two lines that are only ``\"\"\"``."""
    content = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    fences = list(_FENCE.finditer(content))
    if len(fences) < 2:
        raise PromptLayoutError('llm=rules reads the note between two lines of """ in the prompt (as the timeline '
                                "prompt writes it); this prompt has fewer than two such lines")
    body = content[fences[-2].end():fences[-1].start()]
    return body[1:-1] if body.startswith("\n") and body.endswith("\n") else body


def words(text: str) -> int:
    return len(_WORD.findall(text))


def hours_text(hours: float) -> str:
    """Hours as the timeline format reads them: no exponent, no trailing zeros (``-72``, ``1.5``)."""
    return f"{round(hours, 2):.2f}".rstrip("0").rstrip(".")


class RulesAnnotator:
    """A note → its ``(event, hours)`` list, from a learned vocabulary and the time rules."""

    def __init__(self, vocabulary: Vocabulary, history_hours: float = -HOURS_PER_YEAR, repeats: bool = False,
                 step_hours: float = 0.0):
        self.vocabulary, self.history_hours, self.repeats = vocabulary, float(history_hours), bool(repeats)
        self.step_hours = float(step_hours)

    def annotate(self, note: str) -> list[tuple[str, float]]:
        """Its age and sex, the vocabulary's phrases, then the events every timeline gets; each text once. A phrase
        is written at its first mention that a stated time dates (else its first mention: a chief complaint or a
        procedure list names an event before the story dates it); ``repeats`` also writes its later mentions at
        other times."""
        vocabulary = self.vocabulary
        story = story_text(note, vocabulary.sections)
        dated = DatedText(story, self.history_hours, self.step_hours)
        events: list[tuple[str, float]] = []
        if vocabulary.age and (age := patient_age(story)) is not None:
            events.append((age_event(age), 0.0))
        if vocabulary.sex and (sex := patient_sex(story)) is not None:
            events.append((sex, 0.0))
        mentions: dict[tuple[str, bool], list[tuple[str, float, bool]]] = {}
        for found in vocabulary.find(story):
            phrase = " ".join(story[found.start:found.end].split())
            hours, stated = dated.dated_at(found.start, found.end)
            mentions.setdefault((found.key, found.negated), []).append(
                (f"no {phrase}" if found.negated else phrase, hours, stated))
        for said in mentions.values():
            first = next((m for m in said if m[2]), said[0])
            events.append(first[:2])
            if self.repeats:
                times = {first[1]}
                for event, hours, _ in said:
                    if hours not in times:
                        times.add(hours)
                        events.append((event, hours))
        events += list(vocabulary.constant.items())
        once = {}
        for event, hours in events:  # "male" from the sex rule and from the text is one event
            once.setdefault((phrase_key(event), hours if self.repeats else None), (event, hours))
        return list(once.values())


class RulesBackend(Backend):
    """The rules annotator as a backend: ``generate`` writes each prompt's ``event | hours`` lines (or none)."""

    name = "rules"
    batch_invariant = True

    def __init__(self, events: str, splits: str, notes: str | None = None, model: str = "rules",
                 max_new_tokens: int = 100_000, temperature: float = 0.0, batch_size: int = 64,
                 max_prompt_tokens: int = 100_000, window_overlap: float = 0.0, seed: int = 1234,
                 min_count: int = 3, min_precision: float = 0.3, max_words: int = 8,
                 skip_sections: list[str] | tuple[str, ...] = (), history_hours: float = -HOURS_PER_YEAR,
                 repeats: bool = False, step_hours: float = 0.0, cache_dir: str | None = None):
        super().__init__(model, max_new_tokens, temperature, batch_size, max_prompt_tokens, window_overlap, seed)
        self.learned_from = {"events": str(events), "splits": str(splits),
                             "notes": None if notes is None else str(notes)}
        self.settings = {"min_count": int(min_count), "min_precision": float(min_precision),
                         "max_words": int(max_words), "sections": tuple(str(s).lower() for s in skip_sections)}
        vocabulary = load_vocabulary(events, splits, notes, cache_dir, **self.settings)
        self.annotator = RulesAnnotator(vocabulary, history_hours, repeats, step_hours)

    def describe(self) -> dict:
        return {**super().describe(), **self.learned_from, **self.settings, "sections": list(self.settings["sections"]),
                "history_hours": self.annotator.history_hours, "repeats": self.annotator.repeats,
                "step_hours": self.annotator.step_hours}

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return sum(words(m["content"]) for m in messages)

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        generations = []
        for messages in conversations:
            events = self.annotator.annotate(note_of(messages))
            text = "\n".join(f"{event.replace('|', '/')} | {hours_text(hours)}" for event, hours in events) or "none"
            generations.append(Generation(text, self.count_prompt_tokens(messages), words(text), "stop"))
        return generations
