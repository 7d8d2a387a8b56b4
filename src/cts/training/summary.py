"""Hydra callbacks of train.py: a writable ``paths.log_dir`` checked before Hydra makes the run folder in it; for
multiruns, the sweep summary when a multirun ends (``cts.report``, from the jobs' ``summary.json``), and
``dry_run=true``: print the resolved launcher (sbatch) settings and submit nothing."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cts.report import write_sweep_report

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Writes the sweep summary when a multirun ends (all launchers, SLURM included); failed jobs are listed."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        write_sweep_report(config.hydra.sweep.dir)


class LauncherDryRun(Callback):
    """With ``dry_run=true``, a multirun prints its launcher settings resolved against the full config (what
    submitit turns into ``#SBATCH`` lines: partition, gres, tasks per node, time, memory) and exits before
    submitting. ``--cfg hydra`` cannot do this: Hydra refuses it with ``-m`` and resolves the hydra node alone."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if not OmegaConf.select(config, "dry_run", default=False):
            return
        launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
        print(f"# dry run: resolved hydra.launcher ({launcher.get('_target_', '?').rsplit('.', 1)[-1]}); "
              f"sweep dir {config.hydra.sweep.dir}; nothing submitted\n" + OmegaConf.to_yaml(launcher), flush=True)
        raise SystemExit(0)


class LogDirCheck(Callback):
    """Before Hydra makes the run (or sweep) folder under ``paths.log_dir``: a file there, or a folder that cannot be
    written, is one line naming the key and the fix (Hydra's own report is a traceback from its ``mkdir``)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check_writable(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check_writable(config)


def _check_writable(config: DictConfig) -> None:
    log_dir = OmegaConf.select(config, "paths.log_dir", default=None)
    if log_dir is None:
        return
    path = Path(log_dir)
    if path.exists() and not path.is_dir():
        reason = "a file, not a folder"
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
            return
        except OSError as error:
            reason = error.strerror or str(error)
    # printed here and exited: Hydra turns a callback's exception into a warning and goes on to its mkdir
    print(f"error: paths.log_dir={log_dir}: {reason}; every run writes its folder under it: choose a writable folder "
          "with paths.log_dir=DIR", file=sys.stderr)
    raise SystemExit(1)
