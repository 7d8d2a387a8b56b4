"""What the runner needs from a backend: chat generation in batches, token counts and token spans for windowing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class BackendError(RuntimeError):
    """A backend could not produce an output (after its retries); nothing is written for the affected notes."""


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length" (hit max_new_tokens: the last line may be cut)
    retries: int = 0    # failed attempts before this reply (timeouts, dropped connections, 5xx, garbage)


@dataclass
class Failure:
    """No reply for one prompt, in place of its :class:`Generation`. ``stops_run``: the server is unusable (down,
    overloaded past the retry budget, wrong URL or key), so the run stops after writing what finished; otherwise this
    prompt alone failed (the server refused it, e.g. longer than its context, or every reply to it was unreadable) and
    only its admission fails. ``status`` is the last HTTP status (or ``timeout``, ``connection error``), ``kind`` what
    went wrong (``prompt refused``, ``malformed reply``, ``no reply``, ``request rejected``), ``message`` the details
    and the server's error text cut short, without any word of the prompt: servers may echo the note.
    ``prompt_hash`` (:func:`cts.hashing.fingerprint` of the messages) finds the prompt again without storing it."""

    status: str
    kind: str
    message: str
    stops_run: bool = False
    retries: int = 0
    prompt_hash: str = ""


class Backend(ABC):
    """Chat-completion engine. ``batch_invariant`` says a prompt's output does not depend on its batch-mates,
    so a resumed run may generate only the missing notes and still equal an uninterrupted run."""

    name: str = "backend"
    batch_invariant: bool = False

    def __init__(self, model: str, max_new_tokens: int, temperature: float, batch_size: int,
                 max_prompt_tokens: int, window_overlap: float = 0.1, seed: int = 1234):
        if max_new_tokens < 1 or batch_size < 1 or max_prompt_tokens < 64:
            raise ValueError(
                f"llm: need max_new_tokens >= 1, batch_size >= 1, max_prompt_tokens >= 64; got {max_new_tokens}, "
                f"{batch_size}, {max_prompt_tokens}"
            )
        if not 0 <= window_overlap < 0.5:
            raise ValueError(f"llm.window_overlap must be in [0, 0.5), got {window_overlap}")
        self.model, self.max_new_tokens, self.temperature = model, max_new_tokens, temperature
        self.batch_size, self.max_prompt_tokens, self.window_overlap, self.seed = (
            batch_size, max_prompt_tokens, window_overlap, seed)

    def describe(self) -> dict:
        """Model and generation parameters, recorded in every output manifest."""
        return {"backend": self.name, "model": str(self.model), "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "do_sample": self.temperature > 0, "batch_size": self.batch_size,
                "max_prompt_tokens": self.max_prompt_tokens, "window_overlap": self.window_overlap, "seed": self.seed}

    @abstractmethod
    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text`` (used to cut long notes into windows)."""

    @abstractmethod
    def count_prompt_tokens(self, messages: list[dict]) -> int:
        """Tokens of the rendered chat prompt."""

    @abstractmethod
    def generate(self, conversations: list[list[dict]]) -> list[Generation | Failure]:
        """One output per conversation, in order (a :class:`Failure` where a remote server gave none)."""


class TokenizerBackend(Backend):
    """A backend holding a Hugging Face fast tokenizer with a chat template (``self.tokenizer``)."""

    tokenizer = None

    def render(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        spans = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(s) for s in spans["offset_mapping"]]

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return len(self.tokenizer(self.render(messages), add_special_tokens=False, verbose=False)["input_ids"])
