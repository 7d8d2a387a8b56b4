"""Event table I/O: the 22MCTS release (CSV, gzip or not) and Parquet, read into one canonical schema.

Canonical table (pandas): ``hadm_id:int64, event:category, time:float64, time_bin:int8`` (+ ``subject_id``,
``note_id`` when present), rows of an admission together and stably sorted by time. The release's 22.6M rows fit
in memory because events are dictionary-encoded (one Arrow hash pass, then a pandas Categorical).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from cts.data.time_bins import time_bin
from cts.utils import announce


RELEASED_HEADERS = {"hadm_id": "Hadm_id", "event": "Event", "time": "Time", "time_bin": "Time_bin"}
OPTIONAL_COLUMNS = {"subject_id": pa.int64(), "note_id": pa.string()}
REQUIRED = ("hadm_id", "event", "time")
TIME_POLICIES = ("drop", "zero")
# A number as written in the release: optional sign, digits with optional decimals (or .5), optional exponent.
_NUMERIC_TIME = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


class EventTableError(ValueError):
    """Bad event-table input; the message names the file, the line and the column."""

    def __init__(self, path, message: str, line: int | None = None, column: str | None = None):
        where = str(path) + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = str(path), line, column


@dataclass
class ReadReport:
    """What reading dropped or changed, so nothing is lost silently."""

    path: str
    rows_read: int = 0
    non_numeric_time: int = 0
    non_numeric_time_examples: list[str] = field(default_factory=list)
    empty_event: int = 0
    time_policy: str = "drop"
    rows_kept: int = 0

    def summary(self) -> str:
        fate = "dropped" if self.time_policy == "drop" else "set to 0"
        examples = f" (e.g. {self.non_numeric_time_examples[:3]})" if self.non_numeric_time else ""
        return (
            f"{self.path}: read {self.rows_read:,} rows; non-numeric Time {fate}: {self.non_numeric_time:,}{examples};"
            f" empty events dropped: {self.empty_event:,}; kept {self.rows_kept:,}"
        )

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz"))


def _header_columns(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            header = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise EventTableError(path, f"cannot read header: {err}", line=1) from err
    if not header.strip():
        raise EventTableError(path, "empty file (no header)", line=1)
    return [c.strip().strip('"') for c in header.rstrip("\r\n").split(",")]


def _canonical_names(path: Path, columns: list[str]) -> dict[str, str]:
    """Map file column -> canonical name; accepts released (``Hadm_id``) and canonical (``hadm_id``) headers."""
    known = {**{v.lower(): k for k, v in RELEASED_HEADERS.items()}, **{k: k for k in [*RELEASED_HEADERS, *OPTIONAL_COLUMNS]}}
    mapping = {c: known[c.lower()] for c in columns if c.lower() in known}
    for required in REQUIRED:
        if required not in mapping.values():
            raise EventTableError(
                path, f"missing required column {RELEASED_HEADERS[required]!r} (found {columns})", line=1,
                column=RELEASED_HEADERS[required],
            )
    return mapping


def _locate_csv_problem(path: Path, names: dict[str, str], cause: Exception) -> EventTableError:
    """Re-read single-threaded, all text, to name the line and column behind a fast-path failure."""
    invalid: list[pcsv.InvalidRow] = []

    def on_invalid(row):
        invalid.append(row)
        return "error"

    hadm_col = next(c for c, n in names.items() if n == "hadm_id")
    optional_int = [c for c, n in names.items() if n == "subject_id"]
    rows_before = 0
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False, block_size=1 << 20),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in names}),
        )
        for batch in reader:
            for column in [hadm_col, *optional_int]:
                values = batch.column(column)
                ok = pc.match_substring_regex(values, r"^\s*[-+]?\d+\s*$")
                bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
                if bad.size:
                    row = int(bad[0])
                    return EventTableError(
                        path, f"expected an integer, got {values[row].as_py()!r}", line=rows_before + row + 2,
                        column=column,
                    )
            rows_before += batch.num_rows
    except (pa.ArrowInvalid, OSError, EOFError) as err:
        if invalid and invalid[0].number is not None:
            row = invalid[0]
            return EventTableError(
                path, f"expected {row.expected_columns} columns, got {row.actual_columns}: {row.text[:80]!r}",
                line=row.number,
            )
        return EventTableError(path, f"unreadable or truncated after line {rows_before + 1}: {err}", line=rows_before + 2)
    return EventTableError(path, f"cannot parse: {cause}")


def _read_csv_table(path: Path) -> pa.Table:
    """Fast path: ``Time`` parsed as numbers with ``-`` as missing; any other text in it falls back to reading
    ``Time`` as text, so every non-numeric value is counted and shown (see ``_parse_time``)."""
    columns = _header_columns(path)
    names = {c: n for c, n in _canonical_names(path, columns).items() if n != "time_bin"}  # recomputed from time
    types = {c: pa.int64() if n in ("hadm_id", "subject_id") else pa.string() for c, n in names.items()}
    time_column = next(c for c, n in names.items() if n == "time")

    def read(time_type, null_values):
        return pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=16 << 20),
            convert_options=pcsv.ConvertOptions(column_types={**types, time_column: time_type}, null_values=null_values,
                                                include_columns=list(names), strings_can_be_null=False),
        )

    try:
        try:
            table = read(pa.float64(), ["-"])
        except pa.ArrowInvalid as err:
            if "conversion error to double" not in str(err):
                raise
            table = read(pa.string(), [])
    except (pa.ArrowInvalid, OSError, EOFError) as err:
        raise _locate_csv_problem(path, names, err) from err
    return table.rename_columns([names[c] for c in table.column_names])


def _read_parquet_table(path: Path) -> pa.Table:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise EventTableError(path, f"not a readable Parquet file: {err}") from err
    lower = {n.lower(): n for n in schema.names}
    names = {}
    for canonical in [*RELEASED_HEADERS, *OPTIONAL_COLUMNS]:
        source = lower.get(canonical) or lower.get(RELEASED_HEADERS.get(canonical, "").lower())
        if source:
            names[source] = canonical
    for required in REQUIRED:
        if required not in names.values():
            raise EventTableError(path, f"missing required column {required!r} (found {schema.names})", column=required)
    try:
        table = pq.read_table(path, columns=list(names))
    except (pa.ArrowInvalid, OSError) as err:
        raise EventTableError(path, f"unreadable or truncated Parquet: {err}") from err
    table = table.rename_columns([names[c] for c in table.column_names])
    for name, expected in (("hadm_id", "integer"), ("subject_id", "integer")):
        if name in table.column_names and not pa.types.is_integer(table.schema.field(name).type):
            raise EventTableError(path, f"expected {expected} type, got {table.schema.field(name).type}", column=name)
    if "time" in table.column_names and not (
        pa.types.is_floating(table.schema.field("time").type)
        or pa.types.is_integer(table.schema.field("time").type)
        or pa.types.is_string(table.schema.field("time").type)
    ):
        raise EventTableError(path, f"expected numeric hours, got {table.schema.field('time').type}", column="time")
    nulls = table.column("hadm_id").null_count
    if nulls:
        first = int(np.flatnonzero(table.column("hadm_id").is_null().to_numpy(zero_copy_only=False))[0])
        raise EventTableError(path, f"{nulls} missing admission ids (first at row {first})", column="hadm_id")
    return table


def _parse_time(table: pa.Table, report: ReadReport, time_policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Numeric hours and a keep-mask; non-numeric text is dropped or zeroed per ``time_policy``."""
    time = table.column("time")
    if pa.types.is_string(time.type) or pa.types.is_large_string(time.type):
        numeric = pc.fill_null(pc.match_substring_regex(time, _NUMERIC_TIME), False)
        bad = ~numeric.to_numpy(zero_copy_only=False)
        cleaned = pc.if_else(numeric, time, pa.scalar("0", pa.string()))
        hours = pc.cast(pc.utf8_trim_whitespace(cleaned), pa.float64()).to_numpy(zero_copy_only=False)
        examples = pc.unique(time.filter(pa.array(bad))).slice(0, 5).to_pylist()
    else:  # numeric already; nulls were "-" in a CSV (or missing in Parquet)
        hours = pc.cast(time, pa.float64()).to_numpy(zero_copy_only=False).copy()
        bad = np.isnan(hours)
        hours[bad] = 0.0
        examples = (["-"] if time.null_count else []) + (["nan"] if bad.sum() > time.null_count else [])
    report.non_numeric_time = int(bad.sum())
    if report.non_numeric_time:
        report.non_numeric_time_examples = [str(e) for e in examples]
    keep = ~bad if time_policy == "drop" else np.ones(len(hours), dtype=bool)
    return hours, keep


def _encode_events(event: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Category codes and categories from one Arrow hash pass, and the empty/missing mask."""
    if pa.types.is_dictionary(event.type):
        event = pc.cast(event, event.type.value_type)
    encoded = pc.dictionary_encode(pc.cast(event, pa.string())).combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    empty_value = pc.equal(pc.utf8_trim_whitespace(encoded.dictionary), "").to_numpy(zero_copy_only=False)
    empty = (codes < 0) | np.append(empty_value, False)[codes]  # code -1 (missing) reads the appended False
    return codes, pd.Index(encoded.dictionary.to_pandas(), dtype="str"), empty


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """A Categorical of the categories rows use, without pandas re-hashing millions of categories already known
    to be unique (Arrow dictionaries are): the validating constructor costs ~1 s per million categories."""
    used = np.bincount(codes, minlength=len(categories)) > 0
    if not used.all():
        codes = (np.cumsum(used, dtype=np.int32) - 1)[codes]
        categories = categories[used]
    dtype = pd.CategoricalDtype._from_fastpath(categories, ordered=False)
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def compact_categories(events: pd.Series) -> pd.Categorical:
    """Drop categories no row uses (after filtering rows)."""
    return _categorical(events.cat.codes.to_numpy(), events.cat.categories)


def read_event_table(
    path: str | Path, time_policy: str = "drop", report_path: str | Path | None = None
) -> pd.DataFrame:
    """Read a released CSV(.gz) or Parquet event table into the canonical schema, reporting every dropped row."""
    path = Path(path)
    if time_policy not in TIME_POLICIES:
        raise ValueError(f"time_policy must be one of {TIME_POLICIES}, got {time_policy!r}")
    if not path.exists():
        raise EventTableError(path, "no such file")
    table = _read_csv_table(path) if _is_csv(path) else _read_parquet_table(path)
    report = ReadReport(path=str(path), rows_read=table.num_rows, time_policy=time_policy)
    if table.column("hadm_id").null_count:
        first = int(np.flatnonzero(table.column("hadm_id").is_null().to_numpy(zero_copy_only=False))[0])
        raise EventTableError(path, "missing admission id", line=first + 2, column=RELEASED_HEADERS["hadm_id"])

    hours, keep = _parse_time(table, report, time_policy)
    codes, categories, empty = _encode_events(table.column("event"))
    report.empty_event = int((empty & keep).sum())
    rows = np.flatnonzero(keep & ~empty)  # kept rows, then put in canonical order: one gather for every column
    hadm = table.column("hadm_id").to_numpy()
    order = canonical_order(hadm[rows], hours[rows])
    if order is not None:
        rows = rows[order]
    frame = pd.DataFrame({"hadm_id": hadm[rows], "event": _categorical(codes[rows], categories), "time": hours[rows]})
    frame["time_bin"] = time_bin(frame["time"].to_numpy())
    for name in OPTIONAL_COLUMNS:
        if name in table.column_names:
            frame[name] = table.column(name).take(pa.array(rows)).to_pandas()
    report.rows_kept = len(frame)
    announce(report.summary())
    if report_path is not None:
        report.save(report_path)
    return frame


def event_strings(events: pd.DataFrame) -> pa.Array:
    """The event column as an Arrow string array (dictionary decoded once, in C++)."""
    column = events["event"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        dictionary = pa.array(column.cat.categories.astype(str), type=pa.string())
        return dictionary.take(pa.array(column.cat.codes.to_numpy(), type=pa.int32()))
    return pa.array(column.astype(str), type=pa.string())


def sort_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Admissions together, each stably sorted by time (ties keep narrative order)."""
    order = canonical_order(frame["hadm_id"].to_numpy(), frame["time"].to_numpy())
    return frame.reset_index(drop=True) if order is None else frame.iloc[order].reset_index(drop=True)


def canonical_order(hadm: np.ndarray, time: np.ndarray) -> np.ndarray | None:
    """The stable (admission, time) order, or None when the rows are in it already (a cheap check)."""
    out_of_order = (hadm[1:] < hadm[:-1]) | ((hadm[1:] == hadm[:-1]) & (time[1:] < time[:-1]))
    if not out_of_order.any():
        return None
    return _admission_time_order(hadm, time)


def _admission_time_order(hadm: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Stable order by (admission, time) from one int64 key — admission rank in the high bits, time rank in the
    low — which sorts ~2x faster than a two-key lexsort on 22M rows."""
    admission = pd.factorize(hadm, sort=True)[0].astype(np.int64)
    time_code, distinct_times = pd.factorize(time)
    time_rank = np.empty(len(distinct_times), dtype=np.int64)
    time_rank[np.argsort(distinct_times, kind="stable")] = np.arange(len(distinct_times))
    bits = max(1, len(distinct_times).bit_length())
    if admission.max(initial=0) >= 1 << (62 - bits):
        return np.lexsort((time, hadm))
    return np.argsort((admission << bits) | time_rank[time_code], kind="stable")


def format_hours(hours: np.ndarray | pd.Series) -> pa.Array:
    """Hours as text the way pandas writes floats (``72.0``, ``-0.5``), for released-layout CSVs."""
    text = pc.cast(pa.array(np.asarray(hours, dtype=np.float64)), pa.string())
    plain = pc.invert(pc.match_substring_regex(text, r"[.eEna]"))
    return pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)


def write_event_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the canonical table: Parquet (canonical names) or CSV(.gz) with the released headers, by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ("hadm_id", "event", "time", "time_bin", "subject_id", "note_id") if c in frame.columns]
    if not _is_csv(path):
        table = pa.table({c: _arrow_column(frame[c], c) for c in columns})
        pq.write_table(table, path, compression="zstd")
        return path
    released = [c for c in ("hadm_id", "event", "time", "time_bin") if c in frame.columns]
    opener = (lambda: gzip.GzipFile(path, "wb", mtime=0)) if path.name.lower().endswith(".gz") else (lambda: open(path, "wb"))
    with opener() as out:
        out.write((",".join(RELEASED_HEADERS[c] for c in released) + "\n").encode())
        for start in range(0, len(frame), 1 << 20):
            part = frame.iloc[start:start + (1 << 20)]
            fields = [_csv_field(part[c], c) for c in released]
            lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "", "\n")
            out.write(_concatenated_bytes(lines))
    return path


def _csv_field(series: pd.Series, name: str) -> pa.Array:
    """A column rendered as CSV text the way pandas/``csv`` write it (quotes only where needed)."""
    if name == "time":
        return format_hours(series)
    values = pc.cast(_arrow_column(series, name), pa.string())
    if name != "event":
        return values
    needs_quotes = pc.match_substring_regex(values, r'[,"\r\n]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs_quotes, quoted, values)


def _concatenated_bytes(strings: pa.Array) -> bytes:
    """All strings back to back, straight from the Arrow data buffer (no per-row Python objects)."""
    strings = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    return strings.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


_ARROW_TYPES = {"hadm_id": pa.int64(), "event": pa.string(), "time": pa.float64(), "time_bin": pa.int8(),
                "subject_id": pa.int64(), "note_id": pa.string()}


def _arrow_column(series: pd.Series, name: str) -> pa.Array:
    values = series.astype(str) if name == "event" and isinstance(series.dtype, pd.CategoricalDtype) else series
    return pa.array(values, type=_ARROW_TYPES[name], from_pandas=True)
