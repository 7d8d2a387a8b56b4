"""Per-admission output files: written atomically (temp file, fsync, rename), so a file that exists is finished.

Layout: ``DIR/<hadm_id>.json`` = ``{"manifest": {...}, <task fields>, "outputs": [raw model text]}``. Temp files
are ``DIR/.<hadm_id>.json.<pid>.tmp``; a killed run leaves at most those, which the next run removes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


class AnnotationError(RuntimeError):
    """Bad annotation input or output; the message names the file (and field) at fault."""


def output_path(directory: Path, hadm_id: int) -> Path:
    return directory / f"{hadm_id}.json"


def write_atomic(path: Path, record: dict) -> None:
    """Write JSON to a temp file beside ``path``, fsync, then rename; on any failure no file is left behind."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise AnnotationError(f"cannot write {path}: {err.strerror or err}; nothing partial was kept") from err


def stale_temp_files(directory: Path) -> Iterator[tuple[int | None, Path]]:
    """(hadm_id, path) of temp files left by killed runs."""
    for path in directory.glob(".*.json.*.tmp"):
        stem = path.name[1:].split(".json.")[0]
        yield (int(stem) if stem.isdigit() else None), path


def finished_ids(directory: Path) -> set[int]:
    return {int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit()}


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


def annotation_files(directory: str | Path) -> list[Path]:
    """Admission files of a run directory, in admission order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AnnotationError(f"{directory}: no such annotation directory")
    return sorted((p for p in directory.glob("*.json") if p.stem.isdigit()), key=lambda p: int(p.stem))
