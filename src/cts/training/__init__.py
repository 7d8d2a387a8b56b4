"""Training: shared DataModule/LightningModule machinery, the run body of train.py, sweep summaries.

Importing it registers ``${cts.run_name:NAME,OVERRIDES}`` (run directory names), ``${cts.offline_model:X}`` and
``${cts.offline_gguf:X}``.
"""

import re

from omegaconf import OmegaConf

from cts.hashing import fingerprint
from cts.models.offline import offline_gguf, offline_model

_SKIP = ("paths.", "hydra", "ckpt_path", "name=", "logger", "train=", "test=", "cache_dir")


def run_name(name, overrides) -> str:
    """``name`` if set, else a file-safe name built from the overrides (never a timestamp, so a requeued or
    resumed run finds its own directory and ``last.ckpt``); long names are shortened with a hash."""
    if name not in (None, "", "null"):
        return str(name)
    kept = [o.lstrip("+~") for o in overrides or [] if not o.lstrip("+~").startswith(_SKIP)]
    text = re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", ",".join(sorted(kept))) or "default"
    return text if len(text) <= 80 else f"{text[:63]}-{fingerprint(text)}"


OmegaConf.register_new_resolver("cts.run_name", run_name, replace=True)
OmegaConf.register_new_resolver("cts.offline_model", offline_model, replace=True)
OmegaConf.register_new_resolver("cts.offline_gguf", offline_gguf, replace=True)
