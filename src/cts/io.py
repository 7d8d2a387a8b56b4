"""The one way any stage writes a file: a temp file in the same directory, flushed and fsynced, then ``os.replace``.

A killed process leaves at most a hidden ``.<name>.<pid>.<random>.tmp`` beside the target, never a partial file at the
final path; readers that see the final path see a complete file. ``atomic_dir`` does the same for folders written by
libraries (``save_pretrained``). ``refuse_overwrite`` guards stages against writing over one of their inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
    except BaseException:
        temp.unlink(missing_ok=True)
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


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> Path:
    """Strict JSON (NaN and infinities refused: convert them to null first), newline-terminated."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=False, default=str) + "\n")


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
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


class OverwriteError(ValueError):
    """A stage's output would replace one of its inputs."""


def refuse_overwrite(inputs, outputs) -> None:
    """Raise ``OverwriteError`` naming both paths when an output is (or contains, for a folder) one of the inputs."""
    resolved_inputs = [Path(p).resolve() for p in inputs if p is not None]
    for output in (Path(p).resolve() for p in outputs if p is not None):
        for source in resolved_inputs:
            if output == source or output in source.parents:
                raise OverwriteError(f"output {output} would overwrite the input {source}; write to another path")
