"""The one way the entry points report a user's mistake: one message naming the file or key and the fix, no traceback.

Any exception class defined in ``cts`` (``EventTableError``, ``ConfigError``, ``OverwriteError``, …) is, by convention,
a message for the user; so are the operating system's file errors (missing file, permission denied, read-only or
full disk). Anything else is a bug and keeps its traceback. ``HYDRA_FULL_ERROR=1`` shows every traceback.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

from hydra.errors import CompactHydraException, InstantiationException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("cts")

_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_DISK_ERRNOS = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
                errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
                errno.EFBIG: "the file is larger than the file system or a limit (ulimit -f) allows"}
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class UserError(Exception):
    """A mistake the user can fix; the message names the key or file and says what to do."""


class ReportedError(CompactHydraException):
    """A user error inside a multirun job: Hydra prints its message alone and the sweep records the job as failed."""


def user_message(error: BaseException) -> str | None:
    """The one-line message for a user-facing error, or None for a bug (which keeps its traceback)."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__  # hydra.utils.call wraps the stage's own error
    if isinstance(error, UserError) or type(error).__module__.split(".")[0] == "cts":
        return str(error)
    if isinstance(error, OSError) and (isinstance(error, _FILE_ERRORS) or error.errno in _DISK_ERRNOS):
        if error.strerror is None and error.filename is None:
            return str(error)  # raised with a message of its own: FileNotFoundError("stage.normalization=X: ...")
        what = error.strerror or _DISK_ERRNOS.get(error.errno, type(error).__name__)
        if error.errno in _SPACE_ERRNOS and error.filename:
            what += f" ({_free_space(Path(error.filename))})"
        where = error.filename or "(no file named)"
        fix = {FileNotFoundError: "check the path (input=, data.dir=, ckpt_path=, …)",
               NotADirectoryError: "check the path (input=, data.dir=, ckpt_path=, …)"}.get(
            type(error), "raise the file size limit (ulimit -f) or choose another location (output=, paths.log_dir=)"
            if error.errno == errno.EFBIG else "free some space there or choose another location (output=, "
            "paths.log_dir=)" if error.errno in _SPACE_ERRNOS else
            "choose a writable location (output=, paths.log_dir=) or fix its permissions")
        return f"{where}: {what}; {fix}"
    return None


def _free_space(path: Path) -> str:
    """``12.3 MB free in /data``: what is left on the file system that refused a write."""
    folder = next((p for p in path.parents if p.is_dir()), Path("."))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    power = min(int(math.log(free, 1000)) if free else 0, 4)
    return f"{free / 1000 ** power:.1f} {('B', 'kB', 'MB', 'GB', 'TB')[power]} free in {folder}"


def report_user_errors(main):
    """Wrap a ``@hydra.main`` task function: a user error is printed once (stderr and the run's log file) and the
    process exits with status 1; a run folder left with nothing but Hydra's own files is removed."""

    @functools.wraps(main)
    def wrapped(cfg):
        try:
            return main(cfg)
        except Exception as error:
            message = user_message(error)
            if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            if _multirun():
                raise ReportedError(message) from None
            log_to_files(message, level=logging.ERROR)
            _remove_empty_run_dir()
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)

    return wrapped


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def log_to_files(message: str, exc_info: BaseException | None = None, level: int = logging.INFO) -> None:
    """A line (and a traceback, if given) for the run's log file only: the console shows it another way."""
    if exc_info is not None:
        exc_info, level = (type(exc_info), exc_info, exc_info.__traceback__), logging.ERROR
    record = log.makeRecord(log.name, level, __file__, 0, message, None, exc_info)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _remove_empty_run_dir() -> None:
    """A run that failed before writing anything leaves no folder (only ``.hydra/`` and the log would be there)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if not run_dir.is_dir():
        return
    own = {".hydra", f"{HydraConfig.get().job.name}.log"}
    if {p.name for p in run_dir.iterdir()} <= own:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == run_dir:
                root.removeHandler(handler)
                handler.close()
        shutil.rmtree(run_dir, ignore_errors=True)


class LogDirCheck(Callback):
    """Before Hydra makes the run (or sweep) folder under ``paths.log_dir``: a file there, or a folder that cannot be
    written, is one line naming the key and the fix (Hydra's own report is a traceback from its ``mkdir``)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check_writable(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check_writable(config)


def _check_writable(config: DictConfig) -> None:
    log_dir = OmegaConf.select(config, "paths.log_dir", default=None)
    if log_dir is None:
        return
    path = Path(log_dir)
    if path.exists() and not path.is_dir():
        reason = "a file, not a folder"
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
            return
        except OSError as error:
            reason = error.strerror or str(error)
    # printed here and exited: Hydra turns a callback's exception into a warning and goes on to its mkdir
    print(f"error: paths.log_dir={log_dir}: {reason}; every run writes its folder under it: choose a writable folder "
          "with paths.log_dir=DIR", file=sys.stderr)
    raise SystemExit(1)
