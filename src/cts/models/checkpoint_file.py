"""Reading a checkpoint written by ``train.py``, checked before use (resume, test, ``model.init_from``): the archive
must be complete, each member must match the CRC32 that ``torch.save`` stored in it (``torch.load`` does not check
them: one flipped byte became NaN weights and a run that "succeeded"), ``torch.load`` must succeed and the needed keys
be there. Anything else is a ``CheckpointError`` naming the file, never a fresh start."""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import torch

from cts.errors import UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used as it is; the message names the file and what to do."""


def _where(path: Path, key: str | None) -> str:
    return f"{key}={path}" if key else str(path)


def verify_checkpoint(path, key: str | None = None) -> Path:
    """``path`` if it is a complete torch archive whose members all match their stored CRC32; ``key`` is the config
    key that named it (for the message)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{_where(path, key)}: no such file; give a .ckpt written by train.py "
                              "(<run dir>/checkpoints/best.ckpt or last.ckpt)")
    stat = path.stat()
    problem = _archive_problem(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if problem:
        raise CheckpointError(f"{_where(path, key)}: {problem}; copy it again or choose another checkpoint")
    return path


@functools.lru_cache(maxsize=16)
def _archive_problem(path: str, size: int, mtime_ns: int) -> str | None:
    """What is wrong with the archive, or None; cached by size and time, so a check at start and the load that
    follows read a large file once."""
    if not zipfile.is_zipfile(path):
        return "not a complete checkpoint (truncated or not written by torch.save)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        return f"not a complete checkpoint (truncated: {error})"
    return f"corrupted: {bad} does not match the checksum torch.save stored" if bad else None


def read_checkpoint(path, key: str | None = None, required=("state_dict",), **load_kwargs) -> dict:
    """The verified checkpoint, loaded with ``torch.load(**load_kwargs)``, holding every ``required`` key."""
    path = verify_checkpoint(path, key)
    try:
        checkpoint = torch.load(path, **load_kwargs)
    except Exception as error:  # any unreadable pickle is the file's fault, not a bug here
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(f"{_where(path, key)}: torch.load failed ({type(error).__name__}: {first}); "
                              "choose a checkpoint written by train.py") from None
    missing = [k for k in required if not isinstance(checkpoint, dict) or k not in checkpoint]
    if "state_dict" in missing:
        raise CheckpointError(f"{_where(path, key)}: no 'state_dict': not a Lightning checkpoint written by train.py")
    if missing:
        raise CheckpointError(f"{_where(path, key)}: holds the weights only (no {', '.join(missing)}), so training "
                              "cannot continue from it: resume from checkpoints/last.ckpt (ckpt_path=last), or "
                              "evaluate this one with train=false")
    return checkpoint
