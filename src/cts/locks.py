"""One advisory lock per stage output, so two runs never write the same folder or file at once.

The entry points call :func:`run_stage`, which holds the lock while the stage runs. A stage's lock is named for what
it writes: its ``output`` (``out_dir`` for stage=demo) or, when that is null, its ``input`` (such a stage writes
beside or into its input: ``stage=consolidate``, ``stage=coverage``, ``stage=timeline``); a sharded stage locks its
shard only (shards of one output run side by side by design). A second run on the same output stops at once with
one line naming the holder's pid and host, or waits up to ``lock_wait_s`` seconds for it.

The lock is a hidden file beside the output, ``.<name>.lock`` (``.<name>.shard-I-of-N.lock``), holding the holder's
``pid host``. It is an ``flock``: the kernel drops it when its holder exits or is killed, so a lock is never stale;
the file itself stays (waiters share its inode).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import hydra
from filelock import FileLock, Timeout
from omegaconf import DictConfig

from cts.errors import UserError
from cts.sharding import Shard


class LockedError(UserError):
    """Another live run holds the lock on this output."""


def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.lock"


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)


def _holder(lock: Path) -> str:
    try:
        pid, host = lock.read_text().split()
    except (OSError, ValueError):
        return "another run"  # it has the lock but has not written its name yet
    return f"pid {pid} on {host}"


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, wait_s: float = 0) -> Iterator[Path]:
    """Hold the lock on ``output`` (a file or a folder, existing or not) for the ``with`` block; raise
    :class:`LockedError` when another process still holds it after ``wait_s`` seconds."""
    output = Path(output).absolute()
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, on_acquired=_write_holder)
    try:
        lock.acquire(timeout=max(float(wait_s), 0))
    except Timeout:
        waited = f" after waiting {wait_s:g} s" if wait_s else ""
        raise LockedError(f"{output} is being written by {_holder(path)} (lock {path}){waited}; let that run finish, "
                          "or set lock_wait_s=SECONDS to wait for it") from None
    try:
        yield path
    finally:
        lock.release()


def stage_output(stage: DictConfig) -> Path | None:
    """What a stage writes, as its lock names it: ``output``, ``out_dir`` or (a stage that writes beside its input)
    ``input``, with ``.shard-I-of-N`` for one shard of a sharded stage."""
    written = next((stage.get(key) for key in ("output", "out_dir", "input") if stage.get(key) is not None), None)
    if written is None:
        return None
    path = Path(str(written))
    if stage.get("shard") is not None:
        shard = Shard(stage.shard.get("index"), stage.shard.get("count")).resolve()
        if shard.count > 1:
            path = path.with_name(f"{path.name}.shard-{shard.index}-of-{shard.count}")
    return path


def run_stage(cfg: DictConfig):
    """Call ``cfg.stage`` holding the lock on what it writes (``cfg.lock_wait_s``: how long to wait for another run
    that holds it)."""
    try:
        wait_s = float(cfg.get("lock_wait_s", 0))
    except (TypeError, ValueError):
        raise UserError(f"lock_wait_s={cfg.lock_wait_s!r}: give seconds to wait for another run (0 = stop at "
                        "once)") from None
    output = stage_output(cfg.stage)
    with output_lock(output, wait_s) if output is not None else contextlib.nullcontext():
        return hydra.utils.call(cfg.stage)
