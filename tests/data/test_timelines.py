"""The one ``event | hours`` grammar: a table of line shapes with their expected (event, hours), hand-written."""

import math

import pytest

from cts.data.timelines import (
    Reject,
    clean_event,
    format_hours,
    format_line,
    format_timeline,
    is_decoration,
    lines_of,
    parse_hours,
    parse_line,
    parse_timeline,
    read_timeline,
    split_line,
)


@pytest.mark.parametrize("line, expected", [
    ("fever | -48", ("fever", -48.0)),
    ("fever | –48", ("fever", -48.0)),          # en dash minus
    ("fever | −48", ("fever", -48.0)),          # U+2212 minus
    ("fever | +48", ("fever", 48.0)),
    ("fever - -48", ("fever", -48.0)),          # " - " separator
    ("chest x-ray - 24", ("chest x-ray", 24.0)),  # a hyphen inside the event is not the separator
    ("fever, 12", ("fever", 12.0)),             # ", " separator
    ("fever, chills, 12", ("fever, chills", 12.0)),
    ("fever\t-6", ("fever", -6.0)),             # tab
    ("fever: 6", ("fever", 6.0)),
    ("fever | .5", ("fever", 0.5)),
    ("fever | -.5", ("fever", -0.5)),
    ("fever | 2 days ago", ("fever", -48.0)),
    ("| fever | 0 |", ("fever", 0.0)),
    ("3. fever | 1", ("fever", 1.0)),
])
def test_line_table(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize("line, reason", [
    ("fever", "no 'event | hours' separator"), ("fever - soon", "no 'event | hours' separator"),
    ("fever | soon", "time is not a number of hours"), ("** | 4", "empty event"),
])
def test_rejects_say_why(line, reason):
    assert parse_line(line) == Reject(line, reason)


@pytest.mark.parametrize("line", ["", "   ", "none", "| Event | Hours |", "|---|---|", "```"])
def test_lines_that_carry_nothing(line):
    assert parse_line(line) is None


def test_hours_grammar_edges():
    assert parse_hours("–48") == -48 and parse_hours("- 48") == -48 and parse_hours(".25 h") == 0.25
    assert parse_hours("1e3") is None and parse_hours("inf") is None and parse_hours("nan") is None
    assert parse_hours("1 day after admission") == 24 and parse_hours("1 day before admission") == -24


def test_format_round_trips_through_the_parser(tmp_path):
    events = [("fever", -48.0), ("rash, itchy", 0.5), ("sepsis", 1e-05), ("x-ray", 0.0), ("discharge", 120.25)]
    text = format_timeline(events)
    assert text.splitlines()[:3] == ["fever | -48", "rash, itchy | 0.5", "sepsis | 0.00001"]
    assert format_hours(-0.0) == "0" and format_line("a", 2.0) == "a | 2"
    assert parse_timeline(text).events == events
    (tmp_path / "t.bsv").write_bytes(text.encode() + b"bad \xff line\r\n")
    read = read_timeline(tmp_path / "t.bsv")
    assert read.events == events and len(read.rejects) == 1  # an undecodable byte costs one line
    for bad in ("a | b", "a\nb", "a\rb"):
        with pytest.raises(ValueError, match="^an event in a timeline cannot hold '[|]' or a line break$"):
            format_line(bad, 1)
    with pytest.raises(ValueError, match="finite"):
        format_line("a", math.inf)


@pytest.mark.parametrize("line, expected", [
    ("fever | 24 | from the HPI", ("fever", "24")),        # the last cell that is a time, not the last cell
    ("| fever | high | 24 | note |", ("fever high", "24")),  # cells before the time joined with one space
    ("a | b | c", ("a b", "c")),                            # no time cell: the last cell is the time text
    ("X-ray | 24", ("X-ray", "24")),
    ("fever |", None),                                      # one cell: no event/time pair
])
def test_split_line_picks_the_time_cell(line, expected):
    assert split_line(line) == expected


@pytest.mark.parametrize("text, event", [
    ("- fever", "fever"), ("2) fever", "fever"), ("fever:", "fever"), ("fever;", "fever"), ("fever,", "fever"),
    ("**fever**", "fever"),
    ("chest   pain", "chest pain"), ("X-ray", "X-ray"), ("chest X:", "chest X"),
])
def test_clean_event(text, event):
    assert clean_event(text) == event


def test_hours_up_to_a_lifetime_and_quoted_or_emphasised():
    lifetime = 150 * 8760
    assert parse_hours(str(lifetime)) == lifetime and parse_hours(f"-{lifetime}") == -lifetime
    assert parse_hours(str(lifetime + 1)) is None
    assert (parse_hours("**48**"), parse_hours("`-2`"), parse_hours("'6'")) == (48.0, -2.0, 6.0)
    assert parse_hours("X48") is None and parse_hours("48X") is None


def test_header_rows_with_emphasis_are_decoration():
    assert is_decoration("| **Event** | **Time** |")
    assert not is_decoration("| fever | 24 |")


def test_an_event_of_exactly_the_limit_is_kept_one_more_is_rejected():
    assert parse_line("a" * 300 + " | 5") == ("a" * 300, 5.0)
    long = "a" * 301 + " | 5"
    assert parse_line(long) == Reject(long, "event longer than 300 characters")


def test_bare_carriage_returns_end_lines():
    assert lines_of("a | 1\rb | 2\r\n\r\nc | 3 ") == ["a | 1", "b | 2", "c | 3"]
