"""Stage ``timeline``: one admission of an event table as a picture (PNG) or a self-contained page (HTML).

The PNG puts a row per event on a symmetric-log hours axis (admission at 0); the page does the same with hover text
(``event — hours h (≈2 days before admission)``) and, given the notes, shows the discharge summary beside it with
the retrieval candidate chunks highlighted (the top-ranked ones stronger) when candidates are given, else the words
each event was taken from (its best fuzzy alignment in the note, as ``task=extract`` aligns reference events), so an
annotation can be checked against its source. The page holds event and note text: it is written only to the output
path, never logged.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from cts.data.alignment import fold, locate
from cts.data.event_table import read_event_table
from cts.data.notes import NotesError, read_notes
from cts.data.timelines import format_hours
from cts.errors import UserError
from cts.io import refuse_overwrite
from cts.reports import html
from cts.utils import announce
from cts.viz.figures import save_figure, timeline_figure

FORMATS = (".png", ".html")


class TimelineError(UserError, ValueError):
    """A timeline request that cannot be drawn (no such admission, unknown output format)."""


def admission_events(input: str | Path, hadm_id: int, time_policy: str = "drop") -> list[tuple[str, float]]:
    """``(event, hours)`` of one admission, time-sorted (ties in file order)."""
    events = read_event_table(input, time_policy=time_policy)
    rows = events[events["hadm_id"] == hadm_id]
    if rows.empty:
        examples = ", ".join(str(h) for h in events["hadm_id"].drop_duplicates().head(5))
        raise TimelineError(f"{input}: no events for hadm_id={hadm_id} (admissions there include {examples})")
    rows = rows.sort_values("time", kind="stable")
    return list(zip(rows["event"].astype(str), rows["time"].astype(float)))


def note_text(notes: str | Path, hadm_id: int) -> str:
    for note in read_notes(notes):
        if note.hadm_id == hadm_id:
            return note.text
    raise NotesError(f"{notes}: no note for hadm_id={hadm_id}")


def candidate_spans(candidates: str | Path, hadm_id: int, top: int) -> list[tuple[int, int, str, bool]]:
    """Character spans of the admission's candidate chunks with their rank and score (the first ``top`` marked)."""
    table = pq.read_table(candidates, columns=["hadm_id", "start", "end", "score", "rank"],
                          filters=[("hadm_id", "=", hadm_id)]).to_pandas()
    return [(int(r.start), int(r.end), f"candidate chunk: rank {int(r.rank)}, score {float(r.score):.3f}",
             int(r.rank) <= top) for r in table.itertuples()]


def event_spans(note: str, events: list[tuple[str, float]], threshold: float
                ) -> tuple[list[tuple[int, int, str, bool]], int]:
    """Character spans of the note where each event is found (partial-ratio score ≥ ``threshold``), hover text
    ``event — hours h``, and how many events were found nowhere."""
    folded, spans = [fold(note)], []
    for event, hours in events:
        where = locate(event, folded)
        if where is not None and where[0] >= threshold:
            spans.append((where[2], where[3], f"{event} — {format_hours(hours)} h", True))
    return spans, len(events) - len(spans)


def timeline_page(events: list[tuple[str, float]], hadm_id: int, source: str, note: str | None = None,
                  spans: list[tuple[int, int, str, bool]] | None = None, threshold: float = 90
                  ) -> tuple[str, list[str]]:
    """(title, parts) of the page: candidate ``spans`` highlighted in the note when given, else the events' own."""
    before = sum(h < 0 for _, h in events)
    title = f"Admission {hadm_id}: {len(events)} events"
    summary = html.paragraph(f"{source}: {before} before admission, {sum(h == 0 for _, h in events)} at admission, "
                             f"{sum(h > 0 for _, h in events)} after. Hours on a symmetric-log axis; hover an "
                             "event for its time.", "note")
    view = html.section("Timeline", summary, html.timeline(events, format_hours))
    if note is None:
        return title, [view]
    if spans is not None:
        legend = (f"{len(spans)} candidate chunks highlighted (the top-ranked stronger); hover one for its rank and "
                  "score.")
    else:
        spans, missing = event_spans(note, events, threshold)
        legend = (f"the words of {len(spans)} of {len(events)} events highlighted (best fuzzy match, score ≥ "
                  f"{threshold:g}; {missing} found nowhere in the note); hover one for its event and hours.")
    text = html.section("Discharge summary", html.paragraph(legend, "note"), html.highlighted_text(note, spans))
    return title, [f'<div class="columns"><div>{view}</div><div>{text}</div></div>']


def write_timeline(input: str | Path, hadm_id: int | None, output: str | Path | None = None,
                   notes: str | Path | None = None, candidates: str | Path | None = None, top: int = 3,
                   time_policy: str = "drop", match_threshold: float = 90) -> Path:
    """Write ``output`` (``.png`` or ``.html``; default ``<input folder>/timelines/<hadm_id>.html``)."""
    if hadm_id is None:
        raise TimelineError("stage=timeline needs hadm_id=ID: the admission to draw")
    hadm_id = int(hadm_id)
    output = Path(output) if output else Path(input).parent / "timelines" / f"{hadm_id}.html"
    if output.suffix not in FORMATS:
        raise TimelineError(f"output={output}: the timeline is written as {' or '.join(FORMATS)}")
    refuse_overwrite([input, notes, candidates], [output])
    events = admission_events(input, hadm_id, time_policy)
    if output.suffix == ".png":
        save_figure(timeline_figure(events, f"admission {hadm_id} (N={len(events)} events)"), output)
    else:
        note = note_text(notes, hadm_id) if notes else None
        spans = candidate_spans(candidates, hadm_id, top) if candidates and note is not None else None
        title, parts = timeline_page(events, hadm_id, Path(input).name, note, spans, match_threshold)
        html.write_page(output, title, parts)
    announce(f"timeline: admission {hadm_id}, {len(events)} events → {output}")
    return output
