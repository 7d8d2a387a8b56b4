"""train.py — train and evaluate BERT, GPT or LLaMA on the relation, nextevent or forecast task.

All logic lives in ``cts.training``; ``python train.py --help`` lists the config groups. Returns the value of
``task.optimized_metric`` for Hydra sweepers, None where it is missing or not finite (``cts.training.run.objective``:
the Optuna sweeper then records that trial failed and goes on).
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import cts  # noqa: E402,F401  (registers the config resolvers)
from cts.errors import report_user_errors  # noqa: E402
from cts.training.run import objective, train  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@report_user_errors
def main(cfg: DictConfig) -> float | None:
    return objective(cfg, train(cfg))


if __name__ == "__main__":
    main()
