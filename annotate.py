"""annotate.py — LLM annotation of clinical events with relative timestamps; consolidation; evaluation.

Each ``stage=NAME`` selects ``conf/annotate/stage/NAME.yaml``, a ``_target_`` function in ``src/cts/annotation``
with its arguments (``stage.KEY=VALUE`` sets one), holding the lock on its output, as in ``preprocess.py``.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import cts  # noqa: F401  (registers the config resolvers)
from cts.annotation.backends.openai import refuse_command_line_secrets
from cts.config import misplaced_stage_key, refuse_unread_overrides
from cts.errors import report_user_errors
from cts.locks import run_stage

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="annotate")
@report_user_errors
def main(cfg: DictConfig):
    refuse_unread_overrides(cfg, "stage", CONF / "annotate" / "stage")
    return run_stage(cfg)


if __name__ == "__main__":
    if (refusal := refuse_command_line_secrets(sys.argv[1:])) is not None:
        sys.exit(f"annotate.py: {refusal}")  # before Hydra writes the overrides into the run folder
    if (hint := misplaced_stage_key(sys.argv[1:], CONF / "annotate.yaml", CONF / "annotate" / "stage")) is not None:
        sys.exit(f"error: {hint}")
    main()
