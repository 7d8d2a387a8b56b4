"""Which slice of the admissions this job handles: ``shard.index`` of ``shard.count``, or a SLURM job array's task.

One rule for every sharded stage (``preprocess.py stage=notes``, ``annotate.py``): admission ``h`` belongs to shard
``h mod count``, so all notes of an admission land in the same shard (annotation merges them) and shard outputs
never overlap whatever the input order. A null ``index`` comes from ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN``
(0 outside an array); a null ``count`` from ``SLURM_ARRAY_TASK_COUNT`` (1 outside an array). Inside an array
without ``SLURM_ARRAY_TASK_COUNT`` (old SLURM) the count must be given: guessing 1 would make every task redo
everything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ShardError(ValueError):
    """An impossible shard setting; the message names the setting or the SLURM variable."""


def _env_int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name].strip())
    except ValueError:
        raise ShardError(f"{name}={environ[name]!r} is not an integer") from None


@dataclass(frozen=True)
class Shard:
    """This job's slice: ``index`` of ``count``; null fields are filled by :meth:`resolve`."""

    index: int | None = None
    count: int | None = None

    def resolve(self, environ: Mapping[str, str] | None = None) -> Shard:
        """Both fields set: from the config where given, else from the SLURM array variables, else 0 of 1."""
        environ = os.environ if environ is None else environ
        in_array = "SLURM_ARRAY_TASK_ID" in environ
        index, count = self.index, self.count
        if count is None:
            if "SLURM_ARRAY_TASK_COUNT" in environ:
                count = _env_int(environ, "SLURM_ARRAY_TASK_COUNT")
            elif in_array and index is None:
                raise ShardError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: set shard.count")
            else:
                count = 1
        if index is None:
            index = 0
            if in_array:
                minimum = _env_int(environ, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in environ else 0
                index = _env_int(environ, "SLURM_ARRAY_TASK_ID") - minimum
        index, count = int(index), int(count)
        if count < 1 or not 0 <= index < count:
            raise ShardError(f"shard.index must be in [0, shard.count={count}), got {index}")
        return Shard(index, count)

    def owns(self, hadm_id):
        """Whether admission ``hadm_id`` is this shard's (``hadm_id mod count == index``); of an array or column of
        ids, the mask of those that are."""
        return hadm_id % self.count == self.index

    def path(self, output: Path) -> Path:
        """``candidates.parquet`` → ``candidates-00003-of-00008.parquet`` when sharded."""
        if self.count == 1:
            return output
        return output.with_name(f"{output.stem}-{self.index:05d}-of-{self.count:05d}{output.suffix}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
