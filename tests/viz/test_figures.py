"""Every figure (``cts.viz.figures``) drawn from fixtures is a valid PNG of non-trivial size, written whole, with no
network connection opened; figures without data are not drawn; labels and titles say what they leave out."""

import numpy as np
import pytest

from cts.reports.run import learning_curves
from cts.viz import figures
from tests.helpers import SUMMARY, png_size

rng = np.random.default_rng(0)
FIXTURE_FIGURES = {
    "timeline": lambda: figures.timeline_figure([("fever", -48.0), ("sepsis", 0.0), ("intubation", 6.5)], "t"),
    "histogram": lambda: figures.histogram_figure(rng.integers(5, 40, 200), "events per admission", "events"),
    "time_histogram": lambda: figures.time_histogram_figure(rng.normal(0, 500, 300), [-24, 0, 24], list("abcd"), "t"),
    "bars": lambda: figures.bar_figure({"before": 0.3, "at": 0.2, "after": 0.5}, "share", percent=True),
    "bars_horizontal": lambda: figures.bar_figure({"a" * 80: 12, "b": 7}, "top events", horizontal=True),
    "confusion": lambda: figures.confusion_figure(np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]]),
                                                  ["same", "after", "before"], "test", [0.7, 0.6, 0.9]),
    "roc": lambda: figures.roc_figure(np.array([0, 0.2, 1]), np.array([0, 0.7, 1]), 0.75, "test"),
    "pr": lambda: figures.pr_figure(np.array([1, 0.5, 0]), np.array([0.4, 0.8, 1]), 0.7, 0.3, "test"),
    "reliability": lambda: figures.reliability_figure(np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.4, 0.8]),
                                                      np.array([10, 5, 8]), "test"),
    "model_vs_baselines": lambda: figures.model_vs_baselines_figure(SUMMARY, "test"),
    "learning_curves": lambda: figures.learning_curves_figure(
        {"loss": {"train/loss": (np.arange(3), np.array([1.0, 0.8, 0.7])),
                  "val/loss": (np.arange(3), np.array([1.1, 0.9, 0.85]))}}, "curves"),
    "grouped_rates": lambda: figures.grouped_rates_figure(["-1d…0\nN=3", "0…1d\nN=5"],
                                                          {"top-1": [0.3, 0.6], "bucket": [0.5, 0.8]}, "t", "hours"),
    "error_histogram": lambda: figures.error_histogram_figure({"history": rng.exponential(50, 40),
                                                               "stay": np.array([])}, "errors"),
    "interval_bars": lambda: figures.interval_bars_figure([("lr=1e-4", 0.6, 0.5, 0.7), ("lr=5e-5", 0.5, None, None)],
                                                          "sweep", "test/macro_f1", 0.4, "best baseline"),
    "hours_scatter": lambda: figures.hours_scatter_figure(np.array([-40.0, 0, 30]), np.array([-48.0, 2, 24]), "t"),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_FIGURES))
def test_every_figure_is_a_real_png(name, tmp_path, offline):
    width, height = png_size(figures.save_figure(FIXTURE_FIGURES[name](), tmp_path / f"{name}.png"))
    assert width >= 300 and height >= 200
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.png"]  # no temp file left beside it


def test_a_summary_without_intervals_has_no_bar_chart_and_a_log_without_epochs_no_curves(tmp_path):
    assert figures.model_vs_baselines_figure({"metrics": {"test/loss": 1.0}, "ci95": {}}, "t") is None
    assert figures.learning_curves_figure({"loss": {"train/loss": (np.array([]), np.array([]))}}, "t") is None
    assert learning_curves(tmp_path) == {}


def test_a_class_without_an_f1_is_labelled_with_its_n_only():
    figure = figures.confusion_figure(np.array([[5, 1], [0, 0]]), ["same", "after"], "t", [0.9, None])
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == ["same\nN=6, F1=0.90", "after\nN=0"]
    figures.plt.close(figure)


def test_timeline_figure_says_when_it_shows_only_the_first_events(monkeypatch):
    monkeypatch.setattr(figures, "MAX_TIMELINE_EVENTS", 10)
    many = [(f"event {i}", float(i)) for i in range(15)]
    figure = figures.timeline_figure(many, "big")
    assert "first 10 of 15 events" in figure.axes[0].get_title() and len(figure.axes[0].get_yticks()) == 10
    figures.plt.close(figure)
