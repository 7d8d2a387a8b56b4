"""Parser cases taken from the shapes real instruct models produce."""

import json
import math

import pytest

from cts.annotation.backends.openai import OpenAIBackend
from cts.annotation.evaluate import read_timeline
from cts.annotation.parsing import merge_events, parse_output
from cts.data.event_table import read_event_table
from cts.data.timelines import Reject, parse_hours, parse_timeline


@pytest.mark.parametrize("text, hours", [
    ("-48", -48), ("+24", 24), ("0", 0), ("72.5", 72.5), ("−5", -5), ("48h", 48), ("48 hours", 48),
    ("-48 hrs.", -48), ("2 days ago", -48), ("2 days before admission", -48), ("3 days after admission", 72),
    ("1 week", 168), ("-1 month", -720), ("1 year prior to admission", -8760), ("30 min", 0.5),
    ("24-48", 24), ("-72 to -48", -72), ("24–48 hours", 24), ("~12", 12), ("approximately 6 h", 6),
    ("**-24**", -24), ("0 (admission)", 0), ("at admission", 0), ("t=3", 3),
])
def test_hours_forms(text, hours):
    assert parse_hours(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["later", "unknown", "1,000", "day of surgery", "", "1e9999", "99999999"])
def test_not_hours(text):
    assert parse_hours(text) is None


def test_hours_that_are_not_finite_numbers_are_unreadable_in_every_reader(tmp_path):
    text = parse_timeline("fever | true\nrash | nan\ncough | inf\nchills | 1e999\nnausea | 24\n")
    assert text.events == [("nausea", 24.0)] and len(text.rejects) == 4
    record = {"manifest": {"kind": "events", "hadm_id": 1},  # an output file, as stage=evaluate reads it back
              "events": [{"event": "fever", "time": True}, {"event": "rash", "time": math.nan},
                         {"event": "cough", "time": "2"}, {"event": "nausea", "time": 24}]}
    (tmp_path / "1.json").write_text(json.dumps(record))
    (tmp_path / "2.csv").write_text("event,time\nfever,true\nrash,nan\ncough,inf\nnausea,24\n")
    assert read_timeline(tmp_path / "1.json") == read_timeline(tmp_path / "2.csv") == ([("nausea", 24.0)], 3)
    (tmp_path / "events.csv").write_text("hadm_id,event,time\n1,fever,true\n1,rash,nan\n1,cough,1e999\n1,nausea,24\n")
    assert read_event_table(tmp_path / "events.csv")[["event", "time"]].values.tolist() == [["nausea", 24.0]]


def test_numbered_bullets_table_and_prose():
    output = """Sure! Here are the clinical events I found:

1. fever | -48
2) **rash** | -48 hours
- cough | 2 days ago
* chest x-ray | 0
• intubation | 24-48

| Event | Hours |
|-------|-------|
| sepsis | 0 |
| vancomycin discontinued | +72 |

hypotension: 6 h
The patient improved over the course of the stay.
"""
    result = parse_output(output)
    assert result.events == [("fever", -48), ("rash", -48), ("cough", -48), ("chest x-ray", 0), ("intubation", 24),
                             ("sepsis", 0), ("vancomycin discontinued", 72), ("hypotension", 6)]
    assert [r.reason for r in result.rejects] == ["no 'event | hours' separator"] * 2
    assert result.rejects[0].line.startswith("Sure!")


def test_none_empty_and_prose_only():
    assert parse_output("none").said_none and not parse_output("None.").rejects
    empty = parse_output("  \n ")
    assert not empty.events and empty.rejects == [Reject("", "empty output")] and not empty.said_none
    listed = parse_output("none\nfever | 0")  # "none" then an event: not an empty timeline
    assert listed.events == [("fever", 0)] and not listed.said_none and not listed.rejects
    assert parse_output("fever | 0").events == [("fever", 0)] and not parse_output("fever | 0").said_none
    prose = parse_output("The patient was admitted with pneumonia.\nShe was treated and discharged.")
    assert not prose.events and len(prose.rejects) == 2


def test_bad_times_and_events_are_counted():
    result = parse_output("antibiotics | later\n** | 24\n" + "x" * 400 + " | 5\nfever | -1 | -2")
    assert [r.reason for r in result.rejects] == [
        "time is not a number of hours", "empty event", "event longer than 300 characters"]
    assert result.events == [("fever -1", -2)]  # the last cell that is a time is the time


def test_truncated_output_rejects_the_cut_line():
    result = parse_output("fever | -48\nrash | 0\nheadache | 1", truncated=True)
    assert result.events == [("fever", -48), ("rash", 0)]
    assert result.rejects[0].reason == "cut off at the token limit"


def test_endless_repetition_is_deduplicated_on_merge():
    looping = parse_output("fever | 0\n" * 50 + "fev", truncated=True)
    merged, duplicates = merge_events([looping.events, [("Fever", 0.0), ("rash", 2.0)]])
    assert merged == [("fever", 0.0), ("rash", 2.0)] and duplicates == 50


def test_genus_abbreviations_are_not_list_markers():
    result = parse_output("C. tetani infection | -72\nE. coli bacteremia | 24\na. fever | 0\nB) rash | 2")
    assert [event for event, _ in result.events] == ["C. tetani infection", "E. coli bacteremia", "fever", "rash"]


def test_token_limit_reply_from_the_server_rejects_and_counts_the_cut_line(fake_server):
    """A real reply with ``finish_reason="length"`` marks the backend's generation as cut, and the parser then
    rejects its last line (``headache | 1`` would otherwise read as a valid event) and counts it."""
    fake_server.script = [("length", "fever | -48\nrash | 0\nheadache | 1"), ("reply", "fever | -48\nrash | 0")]
    client = OpenAIBackend(model="m", base_url=fake_server.url, max_new_tokens=8, temperature=0.0, batch_size=2,
                           max_prompt_tokens=512, concurrency=1, timeout_s=5.0, max_retries=0, backoff_s=0.01)
    cut, whole = client.generate([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]])
    assert (cut.finish_reason, whole.finish_reason) == ("length", "stop")
    result = parse_output(cut.text, truncated=cut.finish_reason == "length")
    assert result.events == [("fever", -48), ("rash", 0)]
    assert result.rejects == [Reject("headache | 1", "cut off at the token limit")]
