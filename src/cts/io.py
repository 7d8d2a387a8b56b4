"""The one way any stage writes a file: a temp file in the same directory, flushed and fsynced, then ``os.replace``.

A killed process leaves at most a hidden ``.<name>.<pid>.<random>.tmp`` beside the target, never a partial file at the
final path; readers that see the final path see a complete file; :func:`owner_gone` tells when such a temp file is
abandoned (its writer's pid is dead on this host), the only time it may be removed. ``atomic_dir`` does the same for
folders written by libraries (``save_pretrained``); ``output_set`` for the several files one stage writes, which
appear together or not at all. An error while writing (a full disk) names the final path. ``refuse_overwrite``
guards stages against writing over one of their inputs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

# ``.<name>.<pid>.<random>`` with an optional ``.tmp``-like suffix: mkstemp/mkdtemp names made by this module.
_OWNED_NAME = re.compile(r"^\..*\.(\d+)\.[a-z0-9_]{8}(\.\w+)?$")
COMMIT = ".commit.json"


def _temp_path(path: Path, suffix: str = ".tmp") -> Path:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix)
    os.close(handle)
    return Path(name)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened for fsync
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(path: str | os.PathLike) -> bool:
    """Whether a temp file or folder made here (``.<name>.<pid>.<random>[.tmp]``) was left by a process that no longer
    runs on this host: only then may another run remove it (a live writer's temp file is its work in progress)."""
    match = _OWNED_NAME.match(Path(path).name)
    return match is not None and not pid_alive(int(match.group(1)))


def _name_output(error: BaseException, path: Path, temp: Path) -> None:
    """A library's error (a full disk inside ``pq.write_table``) names no file, or a hidden temp or staged one: name
    the output instead, so the one-line message says which output could not be written."""
    if not isinstance(error, OSError):
        return
    if error.filename is None or str(error.filename) == str(temp):
        error.filename = str(path)
    elif Path(error.filename).is_relative_to(temp):
        error.filename = str(path / Path(error.filename).relative_to(temp))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside ``path``; a library writes it (``pq.write_table(t, tmp)``, ``fig.savefig(tmp)``);
    on success it is fsynced and renamed over ``path``, on error removed. ``suffix`` keeps a format-sniffing writer
    happy (``.png`` for matplotlib, ``.gz`` for pandas' gzip inference)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(path, suffix)
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        _name_output(error, path, temp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None):
    """``open`` for writing whose result appears at ``path`` only when the ``with`` block completes."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as temp, open(temp, mode, encoding=encoding, newline=newline) as handle:
        yield handle
        handle.flush()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def nan_to_none(value):
    """``value`` with every NaN or infinite float as None, through dicts, lists and tuples: an undefined number (a
    metric with nothing to average) is null in JSON, which strict parsers (``jq``, browsers) read, and blank in
    tables."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(item) for item in value]
    return value


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> Path:
    """Strict JSON, NaN and infinities written as null (:func:`nan_to_none`), newline-terminated."""
    return write_text(path, json.dumps(nan_to_none(obj), indent=indent, allow_nan=False, default=str) + "\n")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``, tab or CR;
    ``+``/``-`` only when the cell is not a number) gets a leading apostrophe, so it shows as the text it is."""
    if not isinstance(value, str) or not value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return value
    if value[0] in "+-":
        with contextlib.suppress(ValueError):
            float(value)
            return value
    return "'" + value


def write_csv(frame, path: str | os.PathLike) -> Path:
    """A table meant to be opened by people (``rejects.csv``, ``per_note.csv``, ``summary.csv``), written atomically
    with every text cell and header made :func:`spreadsheet_safe`. Data files in the release format are written by
    ``cts.data.event_table`` unchanged."""
    text = [c for c in frame.columns if frame[c].dtype.kind not in "biufcmM"]
    safe = frame.assign(**{c: frame[c].map(spreadsheet_safe) for c in text})
    safe.columns = [spreadsheet_safe(str(c)) for c in frame.columns]
    with atomic_path(path, suffix=".csv") as temp:
        safe.to_csv(temp, index=False)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``path`` to fill; on success it replaces ``path`` (an existing folder is
    swapped out and removed), on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}."))
    try:
        yield temp
        for file in temp.rglob("*"):
            if file.is_file():
                with open(file, "rb+") as handle:
                    os.fsync(handle.fileno())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / path.name)
            os.replace(temp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException as error:
        shutil.rmtree(temp, ignore_errors=True)
        _name_output(error, path, temp)
        raise


@contextlib.contextmanager
def output_set(folder: str | os.PathLike, replace: Iterable[str | os.PathLike] = (), last: Iterable[str] = ()
               ) -> Iterator[Path]:
    """Yield a staging folder in ``folder``: a stage writes all its outputs there, under their names relative to
    ``folder``, with any writer. On success they replace their counterparts together, and ``replace`` (files or
    folders of an earlier run that this set supersedes: a figure not drawn this time, parts merged into the output)
    goes: the files are fsynced, a commit record is written, the files are renamed into place (``last``, the set's
    manifest, after the others) and the record is removed. On error (a full disk) nothing in ``folder`` changes: the
    complete earlier set stays. A run killed after the record is finished by the next ``output_set`` or
    :func:`recover` on ``folder``, so a reader after that sees the whole new set or, before the record, the old one
    (between a kill in the rename loop and that next call, a mix)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recover(folder)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=f"{_staging_prefix()}{os.getpid()}."))
    try:
        yield staging
        files = [p for p in staging.rglob("*") if p.is_file()]
        for file in files:
            with open(file, "rb+") as handle:
                os.fsync(handle.fileno())
        last = list(last)
        names = sorted((str(p.relative_to(staging)) for p in files), key=lambda name: (name in last, name))
        write_json(staging / COMMIT, {"files": names, "replace": [str(Path(p).absolute()) for p in replace]})
        _fsync_dir(staging)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        _name_output(error, folder, staging)
        raise
    _commit(staging, folder)


def _staging_prefix() -> str:
    """``.staged.<host>.``: a pid means something only on its own host (folders shared over NFS)."""
    return f".staged.{socket.gethostname()}."


def final_path(path: str | os.PathLike) -> Path:
    """Where a file written into an ``output_set`` staging folder will appear (other paths unchanged): what reports
    and messages about it name."""
    parts = Path(path).parts
    staged = next((i for i, part in enumerate(parts) if part.startswith(".staged.") and _OWNED_NAME.match(part)), None)
    return Path(path) if staged is None else Path(*parts[:staged], *parts[staged + 1:])


def _commit(staging: Path, folder: Path) -> None:
    """Move a committed staging folder's files into ``folder`` and drop what they replace; safe to repeat."""
    record = json.loads((staging / COMMIT).read_text())
    names = set(record["files"])
    for name in record["files"]:
        source, target = staging / name, folder / name
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            _fsync_dir(target.parent)
    for path in map(Path, record["replace"]):
        stale = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        for file in stale:
            if not file.absolute().is_relative_to(folder.absolute()) or \
                    str(file.absolute().relative_to(folder.absolute())) not in names:
                file.unlink()
        if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            shutil.rmtree(path)
    shutil.rmtree(staging)
    _fsync_dir(folder)


def recover(folder: str | os.PathLike) -> None:
    """Finish the output sets of runs that were killed in ``folder`` after their commit record (their files are
    complete), and remove the staging folders of killed runs that never committed. Live runs' folders, and those
    of runs on other hosts, are left."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for staging in folder.glob(f"{_staging_prefix()}*"):  # another host's are its own to finish
        if not owner_gone(staging):
            continue
        if (staging / COMMIT).exists():
            _commit(staging, folder)
        else:
            shutil.rmtree(staging, ignore_errors=True)


class OverwriteError(ValueError):
    """A stage's output would replace one of its inputs."""


def refuse_overwrite(inputs, outputs) -> None:
    """Raise ``OverwriteError`` naming both paths when an output is (or contains, for a folder) one of the inputs."""
    resolved_inputs = [Path(p).resolve() for p in inputs if p is not None]
    for output in (Path(p).resolve() for p in outputs if p is not None):
        for source in resolved_inputs:
            if output == source or output in source.parents:
                raise OverwriteError(f"output {output} would overwrite the input {source}; write to another path")
