"""The Lightning trainer's progress for logs that are not a terminal (SLURM ``.out`` files, pipes): no carriage
returns, no bars redrawn thousands of times; one line every ``every_s`` seconds and one per finished epoch."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import ProgressBar


class PlainProgressBar(ProgressBar):
    """``epoch 1/3 · step 120/400 (30%) · 2.1 it/s · eta 2m13s · loss 0.512`` (through the logging console handler)."""

    def __init__(self, every_s: float = 30.0):
        super().__init__()
        self.every_s = float(every_s)
        self._enabled = True
        self._started = self._last = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._started = self._last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if self._enabled and now - self._last >= self.every_s:
            self._last = now
            self.print(self._line(trainer, batch_idx + 1, now - self._started))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._enabled:
            total = self.total_train_batches
            done = total if isinstance(total, int) else trainer.fit_loop.epoch_loop.batch_progress.current.completed
            self.print(self._line(trainer, done, time.monotonic() - self._started))

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._enabled and not trainer.sanity_checking:
            shown = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k.startswith("val/")}
            if shown:
                self.print(f"epoch {trainer.current_epoch + 1} validation: " + _metrics(shown))

    def print(self, *args, **kwargs) -> None:
        print(*args, flush=True, **kwargs)

    def _line(self, trainer, done: int, elapsed: float) -> str:
        total = self.total_train_batches
        of_total = f"/{total} ({done / total:.0%})" if isinstance(total, int) and total else ""
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f" · eta {_duration((total - done) / rate)}" if of_total and rate > 0 else ""
        loss = {k: v for k, v in self.get_metrics(trainer, trainer.lightning_module).items() if "loss" in k}
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        return (f"epoch {trainer.current_epoch + 1}{epochs} · step {done}{of_total} · {rate:.2f} it/s{eta}"
                + (f" · {_metrics(loss)}" if loss else ""))


def _metrics(values: dict) -> str:
    return " · ".join(f"{k} {float(v):.4g}" if not isinstance(v, str) else f"{k} {v}" for k, v in values.items())


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"
