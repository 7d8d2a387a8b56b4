"""What every task's LightningModule shares: optimizer and warm-up schedule from the model config, epoch metrics
logged as ``stage/name`` from one place, and the best monitored value tracked (and checkpointed) for sweepers."""

from __future__ import annotations

import lightning as L
import torch
from torchmetrics import MeanMetric

from cts.models.spec import ModelSpec
from cts.training.evaluation import TestEvaluation


class TaskModule(L.LightningModule):
    """Subclasses implement ``step(batch) -> (loss, weight)``, ``epoch_metrics(stage, loss) -> dict`` and
    ``test_evaluation(datamodule)``, and may add ``test_figures``; they may update their own torchmetrics in
    ``step``. ``monitor`` is a ``val/<name>`` key of the epoch metrics."""

    def __init__(self, spec: ModelSpec, tokenizer, monitor: str = "val/loss", mode: str = "min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"task.mode must be min or max, got {mode!r}")
        self.spec, self.tokenizer, self.monitor, self.mode = spec, tokenizer, monitor, mode
        # ModuleDict keys can't be "train" (a Module method): keyed "train_loss", "val_loss", "test_loss"
        self.losses = torch.nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in ("train", "val", "test")})
        self.register_buffer("best", torch.tensor(float("-inf") if mode == "max" else float("inf")))

    # -- subclass API ------------------------------------------------------------------------------------------
    def step(self, batch: dict, stage: str) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def epoch_metrics(self, stage: str, loss: torch.Tensor) -> dict[str, torch.Tensor | float]:
        return {}

    def test_evaluation(self, datamodule) -> TestEvaluation:
        """After ``trainer.test``, on rank zero: the model's scored test rows and the task's baselines (fitted on
        ``datamodule``'s train split, scored on exactly those rows) for the bootstrap in ``summary.json``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement test_evaluation")

    def test_figures(self, datamodule, summary: dict) -> dict:
        """After the test evaluation, on rank zero: the task's own figures (file stem → matplotlib ``Figure``,
        drawn with ``cts.viz.figures``) for the run dir, the loggers and ``report.html``; ``summary`` is the run's
        ``summary.json``. Figures go to W&B, so they show numbers only (counts, rates, errors), never event or
        note text. Default: none (the runner still draws learning curves and model vs baselines)."""
        return {}

    def gather(self, items: list) -> list:
        """``items`` of every DDP rank concatenated (rank order); the local list when not distributed. A
        collective: every rank must call it (e.g. in ``on_test_epoch_end``)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return list(items)
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, list(items))
        return [item for part in gathered for item in part]

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"params_total": total, "params_trainable": trainable}

    # -- Lightning ---------------------------------------------------------------------------------------------
    def _shared_step(self, batch: dict, stage: str) -> torch.Tensor:
        loss, size = self.step(batch, stage)
        self.losses[f"{stage}_loss"].update(loss.detach(), weight=size)
        if stage == "train":
            self.log("train/loss_step", loss.detach(), prog_bar=True, batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def _log_epoch(self, stage: str) -> None:
        loss = self.losses[f"{stage}_loss"].compute()
        metrics = {"loss": loss, **self.epoch_metrics(stage, loss)}
        self.losses[f"{stage}_loss"].reset()
        self.log_dict({f"{stage}/{name}": value for name, value in metrics.items()}, sync_dist=True,
                      prog_bar=stage == "val")
        if stage == "val" and not self.trainer.sanity_checking and self.monitor.startswith("val/"):
            value = torch.as_tensor(metrics[self.monitor.removeprefix("val/")], dtype=self.best.dtype,
                                    device=self.best.device)
            self.best = torch.maximum(self.best, value) if self.mode == "max" else torch.minimum(self.best, value)
            self.log(f"{self.monitor}_best", self.best, sync_dist=True)

    def on_train_epoch_end(self):
        self.log("train/loss", self.losses["train_loss"].compute(), sync_dist=True)
        self.losses["train_loss"].reset()

    def on_validation_epoch_end(self):
        self._log_epoch("val")

    def on_test_epoch_end(self):
        self._log_epoch("test")

    def optimizer_groups(self) -> list:
        """What the optimizer updates: the trainable parameters (a task may return param groups instead)."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self):
        optimizer = self.spec.optimizer(self.optimizer_groups())
        if self.spec.scheduler is None:
            return optimizer
        scheduler = self.spec.scheduler(optimizer, num_training_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
