"""The timeline stage (``cts.reports.timeline``): its PNG and self-contained page hold every event (hover text with
the hours, only ``data:`` links), the note highlights the words each event came from, bad requests name the fix, and
the stage composes with its output beside the input."""

import re
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

import cts  # noqa: F401  (registers ${cts.or:...})
from cts.data.timelines import format_hours
from cts.io import OverwriteError
from cts.reports import escape
from cts.reports.timeline import TimelineError, admission_events, event_spans, timeline_page, write_timeline
from tests.helpers import png_size

from .helpers import parse_page

ROOT = Path(__file__).resolve().parents[2]


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
