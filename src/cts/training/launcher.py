"""``dry_run=true`` for train.py's multiruns (a Hydra callback): print the resolved launcher (sbatch) settings and
submit nothing. (The sweep report written when a multirun ends is ``cts.reports.sweep.SweepSummary``.)"""

from __future__ import annotations

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


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
