"""The transfer report (``python -m cts.reports transfer``): runs paired by fold and seed, the arms' means and the
paired difference with its t interval."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cts.reports.__main__ import main as report_main


def _summary(run: Path, task: str, seed: int, overrides: list[str], value: float, baseline: float) -> None:
    run.mkdir(parents=True)
    metric = "test/acc" if task == "pubmedqa" else "test/ndcg10"
    summary = {"task": task, "seed": seed, "overrides": overrides, "metrics": {metric: value},
               "ci95": {metric: [value - 0.05, value + 0.05]},
               "baselines": {"majority": {metric: baseline, "ci95": {metric: [baseline, baseline]}}},
               "best_baseline": {"metric_name": metric, "name": "majority", "value": baseline,
                                 "delta": value - baseline, "delta_ci95": [0, 0]}}
    (run / "summary.json").write_text(json.dumps(summary))


def test_transfer_report_pairs_folds_and_seeds(tmp_path):
    base = {(0, 1): 0.50, (0, 2): 0.54, (1, 1): 0.60, (1, 2): 0.56}
    gain = {(0, 1): 0.02, (0, 2): 0.04, (1, 1): -0.01, (1, 2): 0.03}
    sweep = tmp_path / "sweep_base"
    for (fold, seed), value in base.items():
        _summary(sweep / f"{fold}{seed}", "pubmedqa", seed, [f"data.fold={fold}", f"seed={seed}"], value, 0.55)
    cts_runs = []
    for (fold, seed), value in base.items():
        run = tmp_path / f"cts_{fold}_{seed}"
        _summary(run, "pubmedqa", seed, [f"data.fold={fold}", "model.init_from=/c.ckpt"], value + gain[fold, seed],
                 0.55)
        cts_runs.append(str(run))
    (sweep / "crashed").mkdir()
    out = tmp_path / "report"
    assert report_main(["transfer", str(sweep), *cts_runs, "--out", str(out)]) == 0
    arms = pd.read_csv(out / "transfer.csv").set_index("arm")
    assert arms.loc["base", "runs"] == 4 and arms.loc["base", "mean"] == pytest.approx(np.mean(list(base.values())))
    assert arms.loc["cts", "std"] == pytest.approx(np.std([base[k] + gain[k] for k in base], ddof=1))
    assert arms.loc["baseline:majority", "mean"] == pytest.approx(0.55)
    assert arms.loc["baseline:majority", "runs"] == 4  # once per (fold, seed): both arms score it on the same rows
    diff = pd.read_csv(out / "transfer_diff.csv").iloc[0]
    deltas = np.array(list(gain.values()))
    half = 3.182446 * deltas.std(ddof=1) / 2  # t(0.975, 3)
    assert (diff["pairs"], diff["mean_diff"]) == (4, pytest.approx(deltas.mean()))
    assert (diff["lo"], diff["hi"]) == (pytest.approx(deltas.mean() - half, abs=1e-5),
                                        pytest.approx(deltas.mean() + half, abs=1e-5))
    text = (out / "transfer.md").read_text()
    assert "pubmedqa base: 4" in text and "crashed" in text and (out / "transfer.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        report_main(["transfer", str(tmp_path / "nowhere"), "--out", str(out)])
