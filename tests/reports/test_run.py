"""The run report (``cts.reports.run``): learning curves from a CSV log, the figures and the page of a fixture
run."""

import re

import pandas as pd

from cts.reports import html
from cts.reports.run import learning_curves, report_page, run_figures
from cts.viz import figures
from tests.helpers import SUMMARY


def test_run_report_page_from_a_fixture_run(tmp_path, offline):
    (tmp_path / "csv" / "version_0").mkdir(parents=True)
    pd.DataFrame({"epoch": [0, 0, 1, 1], "step": [1, 1, 3, 3], "train/loss": [1.0, None, 0.8, None],
                  "val/loss": [None, 1.1, None, 0.9], "val/macro_f1": [None, 0.3, None, 0.4],
                  "val/macro_f1_best": [None, 0.3, None, 0.4]}).to_csv(tmp_path / "csv" / "version_0" / "metrics.csv",
                                                                         index=False)
    curves = learning_curves(tmp_path, "val/macro_f1")
    assert list(curves) == ["loss", "val/macro_f1"] and list(curves["loss"]["val/loss"][1]) == [1.1, 0.9]
    drawn = run_figures(SUMMARY, tmp_path, {})
    paths = {name: figures.save_figure(figure, tmp_path / f"{name}.png") for name, figure in drawn.items()}
    assert set(paths) == {"model_vs_baselines", "learning_curves"}
    title, parts = report_page(SUMMARY, paths)
    page = html.page(title, parts)
    assert "0.500 [0.400, 0.600]" in page and "majority" in page
    assert "model − best baseline (majority) on test/macro_f1: +0.300 [+0.100, +0.500]" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2
