"""Learning-rate schedules that need the run's step count (known only once the Trainer has the data)."""

from __future__ import annotations

from torch.optim.lr_scheduler import LambdaLR
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup


def _warmup_steps(num_training_steps: int, warmup_steps: int, warmup_ratio: float) -> int:
    return min(max(int(warmup_steps), int(warmup_ratio * num_training_steps)), num_training_steps // 2)


def linear_warmup(optimizer, num_training_steps: int, warmup_steps: int = 0, warmup_ratio: float = 0.0) -> LambdaLR:
    """transformers' linear warm-up to the base LR over ``warmup_steps`` (or ``warmup_ratio`` of training), then
    linear decay to 0.

    Warm-up is capped at half the run, so a paper setting (warmup 500) still decays on a short demo run."""
    warmup = _warmup_steps(num_training_steps, warmup_steps, warmup_ratio)
    return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=num_training_steps)


def cosine_warmup(optimizer, num_training_steps: int, warmup_steps: int = 0, warmup_ratio: float = 0.0) -> LambdaLR:
    """transformers' linear warm-up, then cosine decay to 0 (the transfer papers' schedule); same warm-up cap."""
    warmup = _warmup_steps(num_training_steps, warmup_steps, warmup_ratio)
    return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=num_training_steps)
