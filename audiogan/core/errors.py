"""The error base class every user-facing failure derives from, and how the CLI words OS errors.

Every error a user can fix (a bad file, key, option or checkpoint) is an :class:`AudioganError`.
Its message is one line that names the file or key and, where there is one, the fix. The CLI turns
an :class:`AudioganError` into that line on stderr and the exit code :attr:`AudioganError.exit_code`
(2: nothing could be done, see :mod:`audiogan.cli.main`); anything else that escapes is a bug and
keeps
its traceback.

Typed errors elsewhere derive from both this class and the built-in they always were
(``class ConfigError(AudioganError, ValueError)``), so ``except ValueError`` in user code still
catches them.
"""

from __future__ import annotations

import errno
import os

__all__ = ["AudioganError", "DeviceError", "describe_os_error", "one_line"]


class AudioganError(Exception):
    """A failure the user can fix; ``str(exc)`` is one line naming the file or key and the fix."""

    #: The CLI's exit status for this error when it ends a command (2: nothing was done).
    exit_code: int = 2


class DeviceError(AudioganError, ValueError):
    """A ``--device`` (or ``device=``) that torch does not know or this machine does not have."""


def one_line(text: object) -> str:
    """``text`` as a single line: whitespace runs (newlines included) become one space."""
    return " ".join(str(text).split())


_OS_FIXES = {
    errno.ENOSPC: "free some space and run again",
    errno.EDQUOT: "free some space (disk quota) and run again",
    errno.EACCES: "check the file's permissions",
    errno.EPERM: "check the file's permissions",
    errno.EROFS: "the file system is read-only: choose another output path",
    errno.ENOENT: "check the path",
    errno.EISDIR: "a directory is in the way: pass a file path",
    errno.ENOTDIR: "a file is in the way of a directory in the path",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}


def describe_os_error(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line for an ``OSError``: ``"<file>: <what the OS said>; <fix>"``.

    Args:
        exc: The error raised by the OS call.
        path: The file to name when ``exc`` carries none (``exc.filename`` wins when set).
    """
    name = exc.filename if exc.filename is not None else path
    reason = exc.strerror or one_line(exc) or type(exc).__name__
    fix = _OS_FIXES.get(exc.errno or -1)
    head = f"{os.fsdecode(name)}: {reason}" if name is not None else reason
    return f"{head}; {fix}" if fix else head
