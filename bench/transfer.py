"""The transfer protocol (docs/training.md "Transfer"): base vs cts-initialised encoder on PubMedQA and trial
matching, over folds × seeds, then ``python -m cts.reports transfer``.

    python bench/transfer.py                                   # full protocol, offline MiniLM, on this machine
    python bench/transfer.py --source RUN/checkpoints/best.ckpt --seeds 1,2,3 --tasks pubmedqa
    python bench/transfer.py --pubmedqa-folds 0,1 --trials-folds 0,1 --seeds 1,2 -- trainer.max_epochs=1
    python bench/transfer.py -- trainer=gpu model.name_or_path=bert-base-uncased model.name=bert-base-uncased

Without ``--source`` it first pretrains the relation model on the demo (``python train.py name=transfer_source``;
pass a real 22MCTS relation or nextevent checkpoint to answer the paper's question). Each arm is one multirun
(``logs/train/multiruns/transfer_<task>_<arm>``); the report goes to ``--out`` (Markdown, CSV, PNG). Overrides after
``--`` go to every training run (both arms alike). Full protocol: 2 tasks × 2 arms × (10 + 5 folds) × 3 seeds
= 180 runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDS = {"pubmedqa": "0,1,2,3,4,5,6,7,8,9", "trials": "0,1,2,3,4"}


def _run(*args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    print("+", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="checkpoint whose backbone initialises the cts arm (default: pretrain one "
                        "on the demo relation task)")
    parser.add_argument("--tasks", default="pubmedqa,trials")
    parser.add_argument("--pubmedqa-folds", default=FOLDS["pubmedqa"])
    parser.add_argument("--trials-folds", default=FOLDS["trials"])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", default=str(ROOT / "logs" / "bench" / "transfer"))
    parser.add_argument("overrides", nargs="*", help="after --: overrides for every fine-tuning run")
    args = parser.parse_args()
    source = Path(args.source) if args.source else ROOT / "logs/train/runs/transfer_source/checkpoints/best.ckpt"
    if not source.exists():
        if args.source:
            parser.error(f"--source {source}: no such checkpoint")
        _run("preprocess.py", "stage=demo")
        _run("train.py", "name=transfer_source")
    sweeps = []
    for task in args.tasks.split(","):
        folds = getattr(args, f"{task}_folds")
        for arm in ("base", "cts"):
            name = f"transfer_{task}_{arm}"
            init = [f"model.init_from={source.resolve()}"] if arm == "cts" else []
            _run("train.py", "-m", f"experiment=transfer/{task}_{arm}", *init, f"data.fold={folds}",
                 f"seed={args.seeds}", f"name={name}", *args.overrides)
            sweeps.append(str(ROOT / "logs/train/multiruns" / name))
    _run("-m", "cts.reports", "transfer", *sweeps, "--out", args.out)


if __name__ == "__main__":
    main()
