"""Atomic files and directories: a reader sees the old version or the new one, never a mix.

Every file audiogan writes goes through here: the bytes go to a hidden temporary file beside the
target (created with the user's umask, like any other tool's files), which is flushed, fsynced and
renamed over the target; then the directory is fsynced so the rename survives a power cut. A
failure at any point (an exception, a full disk) removes the temporary file and leaves whatever
was at the target before untouched. Directories (a model directory, a report) are built in a
hidden staging directory and swapped in the same way by :class:`StagedDirectory`.

Temporary names are ``.<target name>.<12 hex digits>.tmp``; :func:`remove_stale_temps` deletes the
ones a killed process left behind (callers do that only where they own the directory, e.g. under a
run's lock).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any

from audiogan.core.faults import fault_point

__all__ = [
    "StagedDirectory",
    "atomic_write",
    "fsync_dir",
    "remove_stale_temps",
    "write_bytes",
    "write_text",
    "write_with",
]

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.(?P<kind>tmp|staging|old)$")


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make renames in ``directory`` durable where the OS can sync a directory (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_beside(target: Path, suffix: str) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.{suffix}")


def _create_temp(target: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_beside(target, "tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0o666 & ~umask, like open()
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], *, text: bool = False, encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    Missing parent directories are created. On any exception the temporary file is removed, the
    target is left as it was and the exception propagates.

    Args:
        path: The file to write.
        text: Yield a text handle (``encoding``, ``"\\n"`` line ends) instead of a binary one.
        encoding: The text encoding when ``text`` is true.

    Yields:
        The open handle to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target)
    try:
        handle: IO[Any] = (os.fdopen(fd, "w", encoding=encoding, newline="\n") if text
                           else os.fdopen(fd, "wb"))
        with handle:
            yield handle
            handle.flush()
            fault_point("atomic.before_fsync")
            os.fsync(handle.fileno())
        fault_point("atomic.before_rename")
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(target)  # so that "disk full" names the file it was writing
        raise
    fsync_dir(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, text=True, encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], object]) -> Path:
    """Call ``writer(handle)`` on a binary handle and commit the result atomically to ``path``.

    For serialisers that take a file object: ``write_with(p, lambda f: torch.save(state, f))``,
    ``write_with(p, lambda f: np.save(f, array))``.
    """
    with atomic_write(path) as handle:
        writer(handle)
    return Path(path)


def remove_stale_temps(
    directory: str | os.PathLike[str], names: Collection[str] | None = None
) -> list[Path]:
    """Clean up after a writer that was killed in ``directory``; returns the paths removed.

    Temporary files (``.NAME.<hex>.tmp``) and staging directories (``.NAME.<hex>.staging``) are
    deleted. A ``.NAME.<hex>.old`` is the previous version of a directory that was being swapped:
    when ``NAME`` itself is missing (the kill fell between the two renames) it is renamed back to
    ``NAME``, so the only copy is never lost; otherwise it is deleted. Only names of the form this
    module creates are touched, and with ``names`` only those whose target ``NAME`` is listed
    (other programs' work in progress in a shared directory is left alone). Call it only where
    this process owns those names (for a run directory: while holding its lock).
    """
    removed: list[Path] = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        match = _TEMP_RE.match(entry.name)
        if not match or (names is not None and match.group("name") not in names):
            continue
        try:
            target = root / match.group("name")
            if match.group("kind") == "old" and not os.path.lexists(target):
                os.rename(entry, target)
                fsync_dir(root)
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


def _fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(directory, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(directory)


class StagedDirectory:
    """Build a directory beside its target, then swap it in whole.

    >>> with StagedDirectory("models/v1") as staging:   # doctest: +SKIP
    ...     write_text(staging / "config.yaml", text)
    ...     write_bytes(staging / "generator.safetensors", blob)

    On a clean exit the staging directory is fsynced and renamed to the target; an existing
    target is moved aside first and removed only after the new one is in place (restored if the
    rename fails). On an exception the staging directory is removed and the target is untouched.
    The staging directory is created with the umask's permissions (not 0700).
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        self.staging: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            staging = _temp_beside(self.target, "staging")
            try:
                os.mkdir(staging)  # 0o777 & ~umask
                break
            except FileExistsError:  # pragma: no cover
                continue
        self.staging = staging
        return staging

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.staging is not None
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        try:
            self.commit()
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    def commit(self) -> Path:
        """Swap the staging directory in; returns the target."""
        assert self.staging is not None
        _fsync_tree(self.staging)
        fault_point("atomic.before_swap")
        backup: Path | None = None
        if self.target.is_dir() and not self.target.is_symlink():
            backup = _temp_beside(self.target, "old")
            os.rename(self.target, backup)
        try:
            os.rename(self.staging, self.target)
        except BaseException:
            if backup is not None:
                os.rename(backup, self.target)
            raise
        fsync_dir(self.target.parent)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return self.target
