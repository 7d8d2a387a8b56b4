"""Checkpoints that survive a kill, are checked before use, and resume a run as if it had never stopped.

- ``AtomicCheckpointIO`` (``trainer.plugins``) writes every checkpoint (best.ckpt, last.ckpt, Lightning's
  ``hpc_ckpt_*.ckpt``) with ``cts.io.atomic_path``: a temp file in the checkpoint's own folder, fsynced, renamed. A kill
  or a full disk leaves the previous checkpoint whole. (Lightning's own writer stages the file in the system temp
  folder and copies it over the target, truncating it first, when that folder is on another file system.)
- ``read_checkpoint`` is what every load goes through (resume, test, ``model.init_from``): the archive must be complete,
  each member must match the CRC32 that ``torch.save`` stored in it (``torch.load`` does not check them: one flipped
  byte became NaN weights and a run that "succeeded"), ``torch.load`` must succeed and the needed keys be there.
  Anything else is a ``CheckpointError`` naming the file, never a fresh start.
- ``ResumableCheckpoint`` (the ``last.ckpt`` callback) adds the random-number states to Lightning's (weights,
  optimizer, scheduler, loops, callbacks), so a resume from an epoch boundary repeats the uninterrupted run; on SIGTERM
  it saves the state of the moment (see docs/training.md, "Resuming", for the mid-epoch case).
"""

from __future__ import annotations

import functools
import logging
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from cts.errors import UserError
from cts.io import atomic_path

log = logging.getLogger(__name__)
RESUME_KEYS = ("state_dict", "optimizer_states", "lr_schedulers", "loops")  # what continuing a run needs


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, written atomically beside the target and read through ``read_checkpoint``."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        with atomic_path(path) as temp:
            torch.save(checkpoint, temp)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None) -> dict:
        return read_checkpoint(path, map_location=map_location, weights_only=weights_only)


def rng_states() -> dict:
    """torch (and CUDA), NumPy and Python generator states, as tensors and tuples (``torch.load(weights_only=True)``
    reads them back, which NumPy arrays would break)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss)}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumableCheckpoint(ModelCheckpoint):
    """``last.ckpt``: Lightning's full state plus the generators' states, restored when training starts again (after
    Lightning built the data loaders, which draw from torch's generator), so dropout draws what the uninterrupted run
    drew. Under DDP every rank restores rank 0's states: all ranks were seeded alike.

    On SIGTERM during training it saves the state of the moment (Lightning stops at a batch boundary, so weights and
    optimizer agree); any other exception saves nothing, as its state may be half-updated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, save_on_exception=True, **kwargs)
        self._restored_rng: dict | None = None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rng_states": rng_states()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored_rng = state_dict.get("rng_states")
        super().load_state_dict(state_dict)

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        if self._restored_rng is not None:
            set_rng_states(self._restored_rng)
            self._restored_rng = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.training:
            super().on_exception(trainer, pl_module, exception)
