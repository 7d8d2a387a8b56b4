"""User errors (``cts.errors``): a file-system error is one message naming the file and the fix."""

from cts.training.run import ConfigError


def test_file_system_errors_become_one_message_naming_the_file_and_the_fix():
    import errno

    from hydra.errors import InstantiationException

    from cts.errors import user_message

    denied = PermissionError(errno.EACCES, "Permission denied", "/data/out.parquet")
    assert user_message(denied) == ("/data/out.parquet: Permission denied; choose a writable location (output=, "
                                    "paths.log_dir=) or fix its permissions")
    read_only = OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x.csv")
    assert user_message(read_only).startswith("/mnt/ro/x.csv: Read-only file system; choose a writable location")
    wrapped = InstantiationException("Error in call to target")
    wrapped.__cause__ = ConfigError("data.dir=X does not exist")
    assert user_message(wrapped) == "data.dir=X does not exist"  # hydra.utils.call's wrapper is looked through
    assert user_message(KeyError("a bug")) is None and user_message(OSError(errno.EIO, "I/O error")) is None
