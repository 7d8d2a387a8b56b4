"""Faults injected into real runs at a known point: callbacks that send their own process a real signal, or pause
until one comes from outside.

Listed on the command line (``+callbacks.fault._target_=tests.training.faults.SignalAt``; subprocesses need the
repository root on ``PYTHONPATH``), so the run under test is the real ``train.py`` with its real signal handling."""

import os
import signal
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SignalAt(Callback):
    """Send the signal ``name`` to this process when training epoch ``epoch`` starts or ends (``at``), in a run that
    did not resume from a checkpoint: the resumed (or requeued) run goes on undisturbed."""

    def __init__(self, name: str = "SIGTERM", epoch: int = 0, at: str = "end"):
        self.signal, self.epoch, self.at = getattr(signal, name), int(epoch), at

    def _fire(self, trainer, at: str) -> None:
        if at == self.at and trainer.current_epoch == self.epoch and trainer.ckpt_path is None:
            os.kill(os.getpid(), self.signal)

    def on_train_epoch_start(self, trainer, pl_module):
        self._fire(trainer, "start")

    def on_train_epoch_end(self, trainer, pl_module):
        self._fire(trainer, "end")



class PauseAt(Callback):
    """After training batch ``batch`` of epoch ``epoch`` (in a run that did not resume), write the file ``marker`` and
    wait, at most ``timeout_s``, for a SIGTERM from outside: the test's kill lands at a known step, not wherever a
    timer happened to put it."""

    def __init__(self, marker: str, epoch: int = 1, batch: int = 3, timeout_s: float = 120):
        self.marker, self.epoch, self.batch, self.timeout_s = Path(marker), int(epoch), int(batch), timeout_s

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) != (self.epoch, self.batch) or trainer.ckpt_path is not None:
            return
        self.marker.touch()
        deadline = time.monotonic() + self.timeout_s
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)
