"""Reports built only from the ``summary.json`` files runs write (their contract: docs/training.md, top).

``python -m cts.reports sweep SWEEP_DIR``: the sweep report (``cts.reports.sweep``), as written when a multirun ends.
``python -m cts.reports transfer RUN_DIRS... --out DIR``: runs without and with ``model.init_from`` on the same task
compared (``cts.reports.transfer``): per arm mean ± std over folds and seeds, and the paired difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cts.reports.sweep import write_sweep_report
from cts.reports.transfer import write_transfer_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cts.reports", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="summarize a multirun folder from its jobs' summary.json")
    sweep.add_argument("sweep_dir", type=Path)
    transfer = commands.add_parser("transfer", help="base vs cts-initialised runs: mean ± std over folds and seeds, "
                                   "paired difference with a 95%% t interval (Markdown, CSV, PNG)")
    transfer.add_argument("run_dirs", type=Path, nargs="+", help="run folders or multirun folders")
    transfer.add_argument("--out", type=Path, default=Path("transfer_report"), help="output folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            write_sweep_report(args.sweep_dir)
        else:
            write_transfer_report(args.run_dirs, args.out)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
