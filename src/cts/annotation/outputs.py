"""Per-admission output files: written atomically (``cts.io``: temp file, fsync, rename), so a file that exists is
finished.

Layout: ``DIR/<hadm_id>.json`` = ``{"manifest": {...}, <task fields>, "outputs": [raw model text]}``. Temp files
are ``DIR/.<hadm_id>.json.<pid>.<random>.tmp``; a killed run leaves at most those, which the next run removes once
their writer is gone (a live run's temp file is its work in progress, never "stale").
File names are admission ids parsed as integers (``cts.data.ids``); any other ``*.json`` is not an admission file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from cts.data.ids import parse_id
from cts.io import atomic_open, owner_gone

_ID_NAME = re.compile(r"[0-9]+")


class AnnotationError(RuntimeError):
    """Bad annotation input or output; the message names the file (and field) at fault."""


def output_path(directory: Path, hadm_id: int) -> Path:
    return directory / f"{hadm_id}.json"


def write_atomic(path: Path, record: dict) -> None:
    """Write JSON to a temp file beside ``path``, fsync, then rename; on any failure no file is left behind."""
    try:
        with atomic_open(path, "w") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False))
    except (OSError, ValueError) as err:
        raise AnnotationError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}; "
                              "nothing partial was kept") from err


def file_id(path: Path) -> int | None:
    """The admission id a file is named for (``123.json``, ``.123.json.<pid>.<random>.tmp``), else None."""
    stem = path.name.lstrip(".").split(".json")[0]
    return parse_id(stem) if _ID_NAME.fullmatch(stem) else None


def stale_temp_files(directory: Path) -> Iterator[tuple[int | None, Path]]:
    """(hadm_id, path) of temp files left by runs that are gone (the pid in the name is dead on this host)."""
    for path in directory.glob(".*.json.*.tmp"):
        if owner_gone(path):
            yield file_id(path), path


def finished_ids(directory: Path) -> set[int]:
    return {i for i in map(file_id, directory.glob("*.json")) if i is not None}


def read_output(path: Path) -> dict:
    """One admission file, checked for the fields every task writes."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AnnotationError(f"{path}: not a readable annotation file ({err})") from err
    manifest = record.get("manifest") if isinstance(record, dict) else None
    if not isinstance(manifest, dict) or "kind" not in manifest or "hadm_id" not in manifest:
        raise AnnotationError(f"{path}: field 'manifest' (with 'kind' and 'hadm_id') is missing")
    return record


def annotation_files(directory: str | Path) -> tuple[list[Path], list[Path]]:
    """Admission files of a run directory in admission order, and the other ``*.json`` files there (named for no
    valid admission id: negative, non-integer, beyond int64), which callers count and report."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AnnotationError(f"{directory}: no such annotation directory")
    named = [(file_id(p), p) for p in directory.glob("*.json")]
    return [p for i, p in sorted((i, p) for i, p in named if i is not None)], sorted(p for i, p in named if i is None)
