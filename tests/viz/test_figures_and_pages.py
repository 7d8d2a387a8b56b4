"""Every figure from fixtures is a valid PNG of non-trivial size; the timeline stage and the dataset card write
their PNGs and self-contained pages (every event in the page, no external reference); nothing opens a network
connection while rendering; bad requests fail with a message that names what to fix."""

import json
import re
import shutil
import socket
import struct
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

import cts  # noqa: F401  (registers ${cts.or:...})
from cts.data.timelines import format_hours
from cts.io import OverwriteError
from cts.reports import escape, html
from cts.reports.card import FIGURES, write_stats
from cts.reports.run import learning_curves, report_page, run_figures
from cts.reports.timeline import TimelineError, admission_events, event_spans, timeline_page, write_timeline
from cts.viz import figures

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
SUMMARY = {"run_name": "fixture", "task": "relation", "data": "demo", "model": "bert-tiny", "family": "bert",
           "params": 10, "seed": 1, "overrides": ["model=bert"], "optimized_metric": "val/macro_f1_best",
           "metrics": {"test/acc": 0.6, "test/macro_f1": 0.5, "test/loss": 0.9},
           "ci95": {"test/acc": [0.5, 0.7], "test/macro_f1": [0.4, 0.6]},
           "baselines": {"majority": {"test/acc": 0.4, "test/macro_f1": 0.2,
                                      "ci95": {"test/acc": [0.3, 0.5], "test/macro_f1": [0.1, 0.3]}}},
           "best_baseline": {"metric_name": "test/macro_f1", "name": "majority", "value": 0.2, "delta": 0.3,
                             "delta_ci95": [0.1, 0.5]}}


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature and header chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path}: {len(data)} bytes is an empty picture"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network connection attempted while rendering: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


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


class _Events(HTMLParser):
    """Texts of the timeline's ``.event`` elements and every src/href of a page."""

    def __init__(self):
        super().__init__()
        self.events, self.links, self._inside = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        self._inside = "event" in (attrs.get("class") or "").split()

    def handle_data(self, data):
        if self._inside:
            self.events.append(data)
            self._inside = False


def parse_page(path):
    parser = _Events()
    parser.feed(path.read_text())
    assert all(link.startswith("data:") for link in parser.links), parser.links
    return parser


def test_timeline_stage_png_and_page_hold_every_event(demo_dir, tmp_path, offline):
    events_path = demo_dir / "events_normalized.parquet"
    hadm_id = int(pd.read_parquet(events_path)["hadm_id"].iloc[-1])
    events = admission_events(events_path, hadm_id)
    png_size(write_timeline(events_path, hadm_id, tmp_path / "one.png"))
    page = write_timeline(events_path, hadm_id, tmp_path / "one.html", notes=demo_dir / "notes.csv.gz")
    parsed = parse_page(page)
    assert sorted(parsed.events) == sorted(e for e, _ in events)
    text = page.read_text()
    for event, hours in events:  # the hover text of every event carries its hours
        assert escape.html(f"{event} — {format_hours(hours)} h") in text
    assert "Discharge summary" in text and "events highlighted" in text and "<mark" in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_without_candidates_the_note_highlights_the_words_each_event_came_from():
    note = "Seen for FEVER and chills.\nStarted ceftriaxone on day 2 <for> pneumonia."
    events = [("fever", -2.0), ("ceftriaxone", 30.0), ("appendectomy", 50.0)]
    spans, missing = event_spans(note, events, threshold=90)
    assert missing == 1  # appendectomy is nowhere in the note
    assert [note[s:e].lower() for s, e, _, _ in spans][0] == "fever"
    assert "ceftriaxone" in note[spans[1][0]:spans[1][1]]
    assert [tip for _, _, tip, _ in spans] == [f"fever — {format_hours(-2.0)} h",
                                              f"ceftriaxone — {format_hours(30.0)} h"]
    _, parts = timeline_page(events, 7, "x.parquet", note)
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", parts[0])
    assert len(marks) == 2 and marks[0] == "FEVER"
    assert "2 of 3 events highlighted" in parts[0] and "1 found nowhere" in parts[0]
    assert "&lt;for&gt;" in parts[0]  # the note is escaped around the highlights


def test_page_text_is_escaped(tmp_path):
    path = html.write_page(tmp_path / "p.html", "t", [html.timeline([("<script>alert(1)</script>", 1.0)],
                                                                     format_hours)])
    text = path.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_timeline_stage_errors_name_the_fix(demo_dir, tmp_path):
    events_path = demo_dir / "events_normalized.parquet"
    with pytest.raises(TimelineError, match="needs hadm_id=ID"):
        write_timeline(events_path, None, tmp_path / "x.html")
    with pytest.raises(TimelineError, match=r"no events for hadm_id=1 \(admissions there include"):
        write_timeline(events_path, 1, tmp_path / "x.html")
    with pytest.raises(TimelineError, match=r"written as \.png or \.html"):
        write_timeline(events_path, 1, tmp_path / "x.svg")
    with pytest.raises(OverwriteError):  # a page never replaces its notes
        write_timeline(events_path, 1, tmp_path / "notes.html", notes=tmp_path / "notes.html")


def test_timeline_stage_composes_and_defaults_beside_the_input(demo_dir):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="preprocess", overrides=["stage=timeline", "hadm_id=5", f"input={demo_dir}/x.parquet",
                                                           "notes=n.csv.gz"])
    assert cfg.stage._target_ == "cts.reports.timeline.write_timeline"
    assert (cfg.stage.hadm_id, cfg.stage.notes, cfg.stage.candidates, cfg.stage.output) == (5, "n.csv.gz", None, None)


def test_dataset_card_figures_pages_and_json(demo_dir, tmp_path, offline):
    stats = write_stats(demo_dir / "events_normalized.parquet", tmp_path / "card")
    for name in FIGURES:
        png_size(tmp_path / "card" / f"{name}.png")
    assert stats["synthetic_demo"] and stats["dataset"] == "synthetic demo"
    assert sum(v["admissions"] for v in stats["splits"].values()) == stats["admissions"]
    assert stats["normalization"]["output"] == stats["rows"]
    assert json.loads((tmp_path / "card" / "stats.json").read_text()) == stats
    markdown = (tmp_path / "card" / "card.md").read_text()
    page = (tmp_path / "card" / "card.html").read_text()
    parse_page(tmp_path / "card" / "card.html")
    assert page.count("data:image/png;base64,") == len(FIGURES)
    for text in (markdown, page):
        assert "synthetic demo corpus" in text and f"N={stats['rows']:,} events" in text
        assert all(escape.html(event) in text or event in text for event in stats["top_events"])


def test_card_of_another_table_has_no_demo_line_and_says_what_is_missing(demo_dir, tmp_path):
    table = tmp_path / "data" / "events.parquet"
    table.parent.mkdir()
    shutil.copy(demo_dir / "events_normalized.parquet", table)
    stats = write_stats(table, tmp_path / "card", name="my events")
    assert not stats["synthetic_demo"] and "normalization" not in stats and "splits" not in stats
    assert sorted(p.stem for p in (tmp_path / "card").glob("*.png")) == sorted(
        set(FIGURES) - {"normalization", "split_sizes"})
    page = (tmp_path / "card" / "card.html").read_text()
    assert "synthetic" not in page and "my events (N=" in page
    with pytest.raises(FileNotFoundError, match="normalization=nope.json: no such file"):
        write_stats(table, tmp_path / "card2", normalization="nope.json")


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
