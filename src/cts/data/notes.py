"""Clinical note readers: MIMIC-IV-Note ``discharge.csv(.gz)`` (streamed), a folder of ``<hadm_id>.txt`` files and
the MTSamples CSV, all yielding :class:`Note` one at a time so a 3 GB corpus never sits in memory.

Text is kept exactly as written (offsets downstream point into it); the only change is that bytes that are not
UTF-8 become U+FFFD one for one, so a bad byte costs one character, not the note. Rows that cannot become a note
(empty text, no ``hadm_id``, malformed CSV row) are counted in :class:`ReadStats` with the note/row that caused
them; an unreadable file (a truncated gzip) raises :class:`NotesError` naming the file and the last good note,
after every earlier note has been yielded.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cts.data.ids import parse_id
from cts.io import atomic_path

log = logging.getLogger(__name__)

MIMIC_COLUMNS = ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text")
NOTE_COLUMNS = list(MIMIC_COLUMNS)
MTSAMPLES_COLUMNS = ("note_id", "transcription")
_FIRST_INTEGER = re.compile(r"[0-9]+")
_SURROGATES = re.compile("[\udc80-\udcff]")
_EXAMPLES_PER_REASON = 5


class NotesError(ValueError):
    """Unreadable notes input; the message names the file and, when known, the row and the last good note."""


@dataclass(frozen=True)
class Note:
    note_id: str
    hadm_id: int
    text: str
    subject_id: int | None = None


@dataclass
class ReadStats:
    """What the reader skipped or repaired, by reason, with a few note/row examples per reason (never text)."""

    rows: int = 0
    notes: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    quiet: bool = False  # count without logging: a planning pass over notes that are read (and logged) again

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, where)
        if not self.quiet:
            log.warning("skipped %s: %s", where, reason)

    def repair(self, reason: str, where: str) -> None:
        self.repaired[reason] += 1
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        examples = self.examples.setdefault(reason, [])
        if len(examples) < _EXAMPLES_PER_REASON:
            examples.append(where)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "notes": self.notes,
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
            "examples": self.examples,
        }


def hadm_id_from_name(name: str) -> int | None:
    """The first integer in a file stem (``12345.txt`` → 12345, ``PMC1234567_body`` → 1234567), else None."""
    match = _FIRST_INTEGER.search(name)
    return parse_id(match.group()) if match else None


def _repair_bytes(text: str, stats: ReadStats, where: str) -> str:
    """Undecodable bytes arrive as lone surrogates (``surrogateescape``); one U+FFFD each keeps offsets stable."""
    if _SURROGATES.search(text) is None:
        return text
    stats.repair("non_utf8_bytes", where)
    return _SURROGATES.sub("\ufffd", text)


def _make_note(note_id: str, hadm_id: int | None, text: str | None, stats: ReadStats, where: str,
               subject_id: int | None = None) -> Note | None:
    if hadm_id is None:
        stats.skip("no_hadm_id", where)
        return None
    if text is None or not text.strip():
        stats.skip("empty_text", where)
        return None
    stats.notes += 1
    return Note(note_id=note_id, hadm_id=hadm_id, text=_repair_bytes(text, stats, where), subject_id=subject_id)


def _open_text(path: Path) -> io.TextIOBase:
    """The caller's ``with`` closes it (through the wrapper)."""
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """(row number, row) pairs; the header is row 1. A bad header or a broken stream raises NotesError."""
    csv.field_size_limit(2**31 - 1)  # notes are long; the length policy belongs to the pipeline, not to csv
    row_number, last = 1, "none"
    try:
        with _open_text(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise NotesError(f"{path}: row 1 (header): missing column(s) {missing}; found {reader.fieldnames}")
            for row in reader:
                row_number += 1
                last = row.get("note_id") or f"row {row_number}"
                yield row_number, row
    except (EOFError, OSError, zlib.error, csv.Error) as err:
        raise NotesError(f"{path}: unreadable after row {row_number} (last complete note {last}): {err}") from err


def read_discharge_csv(path: str | Path, stats: ReadStats) -> Iterator[Note]:
    """MIMIC-IV-Note ``discharge.csv(.gz)``, one row at a time."""
    path = Path(path)
    for row_number, row in _csv_rows(path, ("note_id", "hadm_id", "text")):
        stats.rows += 1
        note_id = row.get("note_id") or f"row{row_number}"
        where = f"{path.name} row {row_number} (note {note_id})"
        if None in row or any(row.get(c) is None for c in ("hadm_id", "text")):
            stats.skip("malformed_row", where)
            continue
        hadm_id, subject_id = parse_id(row["hadm_id"]), parse_id(row.get("subject_id"))
        if hadm_id is None and row["hadm_id"].strip():  # present but negative, non-integer or beyond int64
            stats.skip("bad_hadm_id", where)
            continue
        if subject_id is None and (row.get("subject_id") or "").strip():
            stats.repair("bad_subject_id_dropped", where)
        note = _make_note(note_id, hadm_id, row["text"], stats, where, subject_id=subject_id)
        if note is not None:
            yield note


def read_mtsamples_csv(path: str | Path, stats: ReadStats) -> Iterator[Note]:
    """MTSamples layout (``note_id, …, transcription``): the note id doubles as the admission id."""
    path = Path(path)
    for row_number, row in _csv_rows(path, MTSAMPLES_COLUMNS):
        stats.rows += 1
        note_id = row.get("note_id") or f"row{row_number}"
        where = f"{path.name} row {row_number} (note {note_id})"
        note = _make_note(note_id, parse_id(note_id), row.get("transcription"), stats, where)
        if note is not None:
            yield note


NOTE_FILE_SUFFIXES = (".txt", ".txt.gz")  # matched case-insensitively: NOTE.TXT is a note


def _note_file_stem(name: str) -> str | None:
    """The name without its note suffix, or None when the file is not a note (``.md``, ``.csv``, ...)."""
    lower = name.lower()
    suffix = next((s for s in NOTE_FILE_SUFFIXES if lower.endswith(s)), None)
    return name[: -len(suffix)] if suffix else None


def read_text_folder(path: str | Path, stats: ReadStats) -> Iterator[Note]:
    """``<hadm_id>.txt`` (or ``.txt.gz``, any case) files in name order; the admission id is the first integer of
    the file name. Anything else in the folder (subfolders, other files) is a counted skip, never read."""
    path = Path(path)
    for file in sorted(path.iterdir()):
        stem = _note_file_stem(file.name)
        if file.is_dir():
            stats.skip("subfolder (not read)", file.name)
            continue
        if stem is None:
            stats.skip("not a .txt or .txt.gz file", file.name)
            continue
        stats.rows += 1
        try:
            data = file.read_bytes()
            if file.name.lower().endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            stats.skip(f"unreadable_file: {err.__class__.__name__}", file.name)
            continue
        text = data.decode("utf-8", errors="surrogateescape")
        note = _make_note(stem, hadm_id_from_name(stem), text, stats, file.name)
        if note is not None:
            yield note


def _csv_header(path: Path) -> list[str]:
    try:
        with _open_text(path) as fh:
            return next(csv.reader(fh), [])
    except (EOFError, OSError, zlib.error, csv.Error) as err:
        raise NotesError(f"{path}: cannot read the header: {err}") from err


def read_notes(path: str | Path, stats: ReadStats | None = None) -> Iterator[Note]:
    """Notes from any supported layout, chosen from what the path is (folder) or what its header holds."""
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    if path.is_dir():
        return read_text_folder(path, stats)
    if not path.exists():
        raise NotesError(f"{path}: no such file or folder")
    header = _csv_header(path)
    if "text" in header:
        return read_discharge_csv(path, stats)
    if "transcription" in header:
        return read_mtsamples_csv(path, stats)
    raise NotesError(
        f"{path}: row 1 (header) is neither MIMIC-IV-Note ({', '.join(MIMIC_COLUMNS)}) nor MTSamples "
        f"({', '.join(MTSAMPLES_COLUMNS)}); found {header}"
    )


def write_notes_csv(notes, path: str | Path) -> Path:
    """Notes (a frame in MIMIC-IV-Note's ``discharge`` columns) as ``notes.csv.gz``, byte-identical for the same
    notes (no time stamp in the gzip header), written atomically."""
    path = Path(path)
    buffer = io.StringIO()
    notes.to_csv(buffer, index=False, lineterminator="\n")
    with atomic_path(path) as temp, open(temp, "wb") as raw, \
            gzip.GzipFile(path.name, mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue().encode("utf-8"))
    return path
