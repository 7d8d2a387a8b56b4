"""The dataset card (``cts.reports.card``): figures, pages and stats.json of the demo (shares and time bins that add
up); the card of another table without the demo line, saying what is missing."""

import json
import shutil

import pytest

from cts.reports import escape
from cts.reports.card import FIGURES, write_stats
from tests.helpers import png_size

from .helpers import parse_page


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


def test_stats_card(tmp_path, demo_dir):
    stats = write_stats(demo_dir / "events_normalized.parquet", tmp_path / "card")
    assert {"card.md", "stats.json", "time_histogram.png"} <= {p.name for p in (tmp_path / "card").iterdir()}
    assert (tmp_path / "card" / "time_histogram.png").read_bytes()[:4] == b"\x89PNG"
    shares = stats["share_of_events"]
    assert abs(sum(shares.values()) - 1) < 1e-9 and all(v > 0 for v in shares.values())
    assert sum(stats["time_bins"].values()) == stats["rows"]
