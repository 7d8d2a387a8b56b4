"""Prompt templates from ``conf/annotate/prompt/*.yaml``, rendered as chat messages and identified by a hash.

The hash goes into every output manifest, so annotations made with different wording are never mixed unknowingly.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from cts.hashing import record_hash

_FIELD = re.compile(r"\{(\w+)\}")
PASSAGE_SEPARATOR = "\n[...]\n"  # between two excerpts of a note: text was left out here


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: str
    user_whole_note: str | None = None
    user_passages: str | None = None
    rules: str = ""
    chunk: str = "[{index}] {text}"
    max_chunks: int | None = None

    @classmethod
    def from_config(cls, cfg) -> Prompt:
        values = dict(cfg)
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"prompt {values.get('name')!r}: unknown keys {sorted(unknown)}")
        return cls(**values)

    @property
    def hash(self) -> str:
        """The template's :func:`~cts.hashing.record_hash` (all fields)."""
        return record_hash(asdict(self))

    @property
    def chunk_fields(self) -> set[str]:
        """Candidate columns the chunk line uses (``{text}``, ``{neighbours}``, ``{section}``...)."""
        return set(_FIELD.findall(self.chunk)) - {"index"}

    def messages(self, note: str, chunks: list[dict] | None = None, passages: list[str] | None = None,
                 **fields) -> list[dict]:
        """System + user messages; ``chunks`` (candidate rows) None selects ``user_whole_note`` (the whole note),
        ``passages`` (excerpts of the note, in order) selects ``user_passages`` with the excerpts as ``{note}``."""
        template = self.user
        values = {"rules": self.rules, "note": note, **fields}
        if passages is not None:
            template, values["note"] = self.user_passages, PASSAGE_SEPARATOR.join(p.strip() for p in passages)
        elif chunks is None and self.user_whole_note is not None:
            template = self.user_whole_note
        elif chunks is not None:
            values["chunks"] = "\n".join(
                fill(self.chunk, {**{k: str(v) for k, v in row.items()}, "index": str(i)})
                for i, row in enumerate(chunks, 1)
            )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": fill(template, values)}]


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` fields in one pass (braces inside note text are never re-expanded)."""
    return _FIELD.sub(lambda m: values.get(m[1], m[0]), template)
