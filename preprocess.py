"""preprocess.py — notes → candidate chunks; released CSVs → normalized tables, splits and task datasets.

Each ``stage=NAME`` selects ``conf/stage/NAME.yaml``, a ``_target_`` function in ``src/cts`` with its arguments.
"""

import os
from pathlib import Path

os.environ.setdefault("CTS_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import cts  # noqa: E402,F401  (registers the config resolvers)
from cts.errors import report_user_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="preprocess")
@report_user_errors
def main(cfg: DictConfig):
    return hydra.utils.call(cfg.stage)


if __name__ == "__main__":
    main()
