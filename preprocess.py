"""preprocess.py — notes → candidate chunks; released CSVs → normalized tables, splits and task datasets.

Each ``stage=NAME`` selects ``conf/stage/NAME.yaml``, a ``_target_`` function in ``src/cts`` with its arguments
(``stage.KEY=VALUE`` sets one); it runs holding the lock on its output (``cts.locks``).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import cts  # noqa: F401  (registers the config resolvers)
from cts.config import misplaced_stage_key, refuse_unread_overrides
from cts.errors import report_user_errors
from cts.locks import run_stage

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="preprocess")
@report_user_errors
def main(cfg: DictConfig):
    refuse_unread_overrides(cfg, "stage", CONF / "stage")
    return run_stage(cfg)


if __name__ == "__main__":
    if (hint := misplaced_stage_key(sys.argv[1:], CONF / "preprocess.yaml", CONF / "stage")) is not None:
        sys.exit(f"error: {hint}")
    main()
