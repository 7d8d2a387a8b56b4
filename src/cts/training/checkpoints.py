"""Checkpoints that survive a kill, are checked before use, and resume a run as if it had never stopped.

- ``AtomicCheckpointIO`` (``trainer.plugins``) writes every checkpoint (best.ckpt, last.ckpt, Lightning's
  ``hpc_ckpt_*.ckpt``) with ``cts.io.atomic_path``: a temp file in the checkpoint's own folder, fsynced, renamed. A kill
  or a full disk leaves the previous checkpoint whole. (Lightning's own writer stages the file in the system temp
  folder and copies it over the target, truncating it first, when that folder is on another file system.)
- every load (resume, test, ``model.init_from``) goes through ``cts.models.checkpoint_file.read_checkpoint``, which
  verifies the archive first.
- ``ResumableCheckpoint`` (the ``last.ckpt`` callback) adds the random-number states to Lightning's (weights,
  optimizer, scheduler, loops, callbacks), so a resume from an epoch boundary repeats the uninterrupted run; on SIGTERM
  it saves the state of the moment (see docs/training.md, "Resuming", for the mid-epoch case).
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from cts.io import atomic_path
from cts.models.checkpoint_file import read_checkpoint

log = logging.getLogger(__name__)
RESUME_KEYS = ("state_dict", "optimizer_states", "lr_schedulers", "loops")  # what continuing a run needs


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
