"""Small helpers shared by every stage."""

from __future__ import annotations

import logging


def announce(message: str, logger: str = "cts") -> None:
    """A run summary for the user: through logging when a handler is set (Hydra runs), else to stdout."""
    if logging.getLogger().hasHandlers():
        logging.getLogger(logger).info(message)
    else:
        print(message)


class _DropKnownNoise(logging.Filter):
    """Drops log records that say nothing about this run: Lightning's advertising tips, the note that validation runs
    at epoch end (our default), and transformers' load report when the only mismatch is the unused BERT pooler."""

    _LIGHTNING = ("💡 Tip:", "was configured so validation will run at the end of the training epoch")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(part in message for part in self._LIGHTNING):
            return False
        if "LOAD REPORT" in message:
            keys = [line.split("|")[0].strip() for line in message.splitlines() if line.count("|") >= 2
                    and line.split("|")[1].strip() in ("UNEXPECTED", "MISSING", "MISMATCH")]
            statuses = {line.split("|")[1].strip() for line in message.splitlines() if line.count("|") >= 2
                        and line.split("|")[0].strip() in keys}
            return not (keys and statuses == {"UNEXPECTED"} and all(k.startswith("pooler.") for k in keys))
        return True


def quiet_known_noise() -> None:
    """Silence third-party messages known to be irrelevant here (idempotent); everything else still shows."""
    import warnings

    noise = _DropKnownNoise()
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "transformers.modeling_utils"):  # where from_pretrained logs its load report
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnownNoise) for f in logger.filters):
            logger.addFilter(noise)
    # Lightning 2.6 calls torch's deprecated LeafSpec check itself; nothing a user can change
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).* is deprecated")
    # train.py refuses to re-run into a folder holding last.ckpt unless ckpt_path=last: a resume is the only way here
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
