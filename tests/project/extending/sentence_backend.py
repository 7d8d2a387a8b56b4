"""An LLM backend (docs/extending.md, "Adding an LLM backend"): the smallest :class:`cts.annotation.backends.Backend`.

No model: every sentence of the note becomes an event (its first two words, lower case) at 0 h, or at -24 h when
the sentence says "before admission". A real backend does the same three things with a tokenizer and a model or a
server: count a prompt's tokens, give each token's character span (the runner cuts long notes into windows of
``max_prompt_tokens``) and answer a batch of chats, one :class:`Generation` each (or a :class:`Failure`).
``conf/llm/sentences.yaml`` selects it: ``annotate.py llm=sentences``.
"""

from __future__ import annotations

import re

from cts.annotation.backends import Backend, Generation
from cts.annotation.backends.rules import note_of

_WORD = re.compile(r"\S+")


def sentence_events(note: str) -> list[tuple[str, float]]:
    """``(event, hours)`` of each sentence of ``note``."""
    events = []
    for sentence in filter(None, (s.strip() for s in note.replace("\n", " ").split("."))):
        words = sentence.lower().split()
        events.append((" ".join(words[:2]), -24.0 if "before admission" in sentence.lower() else 0.0))
    return events


class SentenceBackend(Backend):
    name = "sentences"
    batch_invariant = True  # a prompt's answer does not depend on its batch-mates: a resumed run equals a whole one

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return sum(len(_WORD.findall(m["content"])) for m in messages)

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        replies = []
        for messages in conversations:
            # the timeline prompt holds the note (window) between two lines of """
            text = "\n".join(f"{event} | {hours:g}" for event, hours in sentence_events(note_of(messages))) or "none"
            replies.append(Generation(text, self.count_prompt_tokens(messages), len(_WORD.findall(text)), "stop"))
        return replies
