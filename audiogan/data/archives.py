"""Unpack corpus archives safely: stage every member, check it, then merge without losing data.

:func:`extract_archive` unpacks a tar (plain, gzip, bzip2, xz) or zip archive into a hidden
staging directory inside the destination, member by member, refusing absolute paths, ``..``
components, device files and FIFOs, links that leave the destination (checked where they will
finally live, not only where they are staged), members written through a link, and archives
whose declared sizes exceed the free disk space (zip bombs). tarfile's ``data`` filter applies on
top where this Python has it. Only when every member is out and checked is the staged tree merged
into the destination: directories are merged, same-named files replaced by the archive's (a
re-extraction), and a file that would land on an existing directory (or a directory on an
existing file or link) stops the merge before anything moved, so that no directory of the user's
is ever deleted. Into an existing root the merge is a sequence of renames: a failure part-way
leaves the members moved so far, and extracting again completes it.

The destination may be relative or reached through symbolic links: every check works on its
real path. Corrupt or truncated data (a bad gzip/bzip2/xz/deflate stream, a bad CRC, a cut file)
raises :class:`~audiogan.data.download.CorpusError` naming the archive, after the staging
directory has been removed: nothing half-extracted is left behind.

Fault points (:mod:`audiogan.core.faults`): ``archives.member`` after each member is written into
the
staging directory, ``archives.merge`` before each rename of the merge.
"""

from __future__ import annotations

import errno
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from audiogan.core.atomic import fsync_dir
from audiogan.core.errors import describe_os_error, one_line
from audiogan.core.faults import fault_point
from audiogan.data.download import CorpusError, UnsafeArchiveError

__all__ = ["ArchiveConflictError", "extract_archive"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_FILTER_ERROR: type[Exception] | tuple[()] = getattr(tarfile, "FilterError", ())
#: Errors of the decompressors and archive readers that mean "the bytes are bad".
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
#: OS errors that come from the machine (disk, quota, permissions), not from the archive.
_ENVIRONMENT = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.EMFILE, errno.ENFILE, errno.EIO})
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"PK\x03\x04", "zip"))


class ArchiveConflictError(CorpusError):
    """Something already under the destination is in the way of an archive member."""


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, progress: bool = True
) -> list[Path]:
    """Unpack a tar (gz/bz2/xz/plain) or zip archive into ``dest``, safely and all-or-nothing.

    Args:
        archive: The archive file.
        dest: The directory to unpack into (created); relative paths and paths through symbolic
            links are fine.
        progress: Show a progress bar (members).

    Returns:
        The top-level entries written, as ``dest / name``.

    Raises:
        UnsafeArchiveError: A member is unsafe (see the module docstring); nothing was
            extracted and nothing was written outside ``dest``.
        ArchiveConflictError: An existing file or directory under ``dest`` is in the way of a
            member of another kind; nothing was moved into ``dest``.
        CorpusError: The file is not a tar or zip archive, is empty, corrupt or truncated, its
            contents do not fit on the disk, or writing failed; the staging directory is
            removed.
    """
    source = Path(archive)
    given = Path(dest)
    given.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.realpath(given))
    staging = root / f".extracting-{source.name}"
    _remove(staging)
    staging.mkdir()
    try:
        kind = _archive_kind(source)
        try:
            if kind == "zip":
                _extract_zip(source, staging, root, progress)
            else:
                _extract_tar(source, staging, root, progress)
        except _FILTER_ERROR as exc:
            raise UnsafeArchiveError(
                f"{source}: refused unsafe member ({one_line(exc)}); nothing was extracted"
            ) from None
        except _CORRUPT as exc:
            raise _corrupt(source, exc) from None
        except OSError as exc:
            if exc.errno in _ENVIRONMENT:
                raise CorpusError(
                    f"{source}: unpacking into {given} failed: {describe_os_error(exc)}; nothing "
                    "was extracted"
                ) from None
            raise _corrupt(source, exc) from None
        tops = sorted(entry.name for entry in staging.iterdir())
        if not tops:
            raise CorpusError(f"{source}: the archive holds no files; delete it and download it "
                              "again")
        links = _check_links(staging, root, source)
        moves = _plan_merge(staging, root, staging, source)
        try:
            for src, dst in moves:
                fault_point("archives.merge")
                os.replace(src, dst)
        except OSError as exc:
            raise CorpusError(f"{source}: moving the unpacked files into {given} failed: "
                              f"{describe_os_error(exc)}") from None
        shutil.rmtree(staging)  # only emptied directories are left
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _recheck_links(links, root, source)
    return [given / name for name in tops]


# ------------------------------------------------------------------------------ kinds, errors


def _archive_kind(source: Path) -> str:
    """``"zip"`` or ``"tar"``; anything else raises a CorpusError naming the file."""
    with open(source, "rb") as handle:  # OSError (missing, a directory) names the file
        head = handle.read(8)
    if not head:
        raise CorpusError(f"{source}: empty file (incomplete download?); delete it and download "
                          "it again")
    if zipfile.is_zipfile(source):
        return "zip"
    try:
        if tarfile.is_tarfile(source):
            return "tar"
    except (*_CORRUPT, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT:
            raise
        raise _corrupt(source, exc) from None
    compression = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if compression is not None:
        raise CorpusError(f"{source}: corrupt or truncated {compression} archive (incomplete "
                          "download?); delete it and download it again")
    raise CorpusError(f"{source}: not a tar or zip archive (incomplete download?); delete it and "
                      "download it again")


def _corrupt(source: Path, exc: BaseException) -> CorpusError:
    reason = one_line(exc) or type(exc).__name__
    return CorpusError(f"{source}: corrupt or truncated archive ({reason}); nothing was "
                       "extracted: delete it and download it again")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _check_space(source: Path, root: Path, needed: int, free: int) -> None:
    if needed > free:
        raise CorpusError(
            f"{source}: unpacking needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB are "
            f"free under {root}; free some space (or unpack elsewhere with another --root) and "
            "run again"
        )


# ------------------------------------------------------------------------------ tar and zip


def _extract_tar(source: Path, staging: Path, root: Path, progress: bool) -> None:
    data_filter = getattr(tarfile, "data_filter", None)
    free, total = shutil.disk_usage(root).free, 0
    with (
        tarfile.open(source, "r:*") as tar,
        tqdm(desc=f"extract {source.name}", unit=" files", disable=not progress,
             leave=False) as bar,
    ):
        for member in tar:
            if _member_target(member.name, staging, source) == staging:
                if not member.isdir():
                    _refuse(source, member.name, "a non-directory at the archive's root")
                continue  # "." or "./": the destination itself
            _check_tar_member(member, staging, source)
            total += max(member.size, 0) if member.isreg() else 0
            _check_space(source, root, total, free)
            if data_filter is not None:
                tar.extract(member, staging, set_attrs=False, filter=data_filter)
            else:  # pragma: no cover - Python without extraction filters
                tar.extract(member, staging, set_attrs=False)
            fault_point("archives.member")
            bar.update(1)
        # tarfile stops at the end-of-archive blocks; reading on to the end of the compressed
        # stream makes gzip check its CRC (a flipped byte in the data would go unnoticed)
        while tar.fileobj is not None and tar.fileobj.read(1 << 20):
            pass


def _check_tar_member(member: tarfile.TarInfo, staging: Path, source: Path) -> None:
    name = member.name
    where = _member_target(name, staging, source)
    _check_parent(where, staging, source, name)
    if member.isreg() or member.isdir():
        return
    if member.issym():
        link = member.linkname
        if not link or _is_absolute(link):
            _refuse(source, name, f"symlink to absolute path {link!r}")
        resolved = os.path.normpath(os.path.join(os.path.realpath(where.parent), link))
        if not _within(resolved, staging):
            _refuse(source, name, f"symlink to {link!r} points outside the destination")
        return
    if member.islnk():
        link = member.linkname
        if _is_absolute(link) or not _within(os.path.normpath(os.path.join(staging, link)),
                                             staging):
            _refuse(source, name, f"hard link to {link!r} outside the destination")
        return
    kind = "device file" if (member.ischr() or member.isblk()) else (
        "FIFO" if member.isfifo() else "special file"
    )
    _refuse(source, name, f"{kind} (only files, directories and inside links are allowed)")


def _extract_zip(source: Path, staging: Path, root: Path, progress: bool) -> None:
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        for info in infos:  # check everything before writing anything
            _member_target(info.filename, staging, source)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                _refuse(source, info.filename, "symbolic link entry in a zip archive")
            if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
                _refuse(source, info.filename, "device file or FIFO")
        _check_space(source, root, sum(info.file_size for info in infos),
                     shutil.disk_usage(root).free)
        for info in tqdm(infos, desc=f"extract {source.name}", unit=" files",
                         disable=not progress, leave=False):
            where = _member_target(info.filename, staging, source)
            if where == staging:
                continue
            _check_parent(where, staging, source, info.filename)
            archive.extract(info, staging)
            fault_point("archives.member")


# ------------------------------------------------------------------------------ member rules


def _member_target(name: str, staging: Path, source: Path) -> Path:
    """Where member ``name`` lands, after the lexical checks (``staging`` is a real path)."""
    if not name or "\x00" in name:
        _refuse(source, name, "empty name or NUL byte in the name")
    if _is_absolute(name):
        _refuse(source, name, "absolute path")
    parts = re.split(r"[\\/]+", name)
    if ".." in parts:
        _refuse(source, name, "'..' path component (path traversal)")
    target = Path(os.path.normpath(staging / name.replace("\\", "/")))
    if not _within(str(target), staging):
        _refuse(source, name, "path outside the destination")
    return target


def _check_parent(where: Path, staging: Path, source: Path, name: str) -> None:
    """The member's directory, with links on disk resolved, must stay inside ``staging``."""
    if not _within(os.path.realpath(where.parent), staging):
        _refuse(source, name, "written through a link that leaves the destination")


def _check_links(staging: Path, root: Path, source: Path) -> list[Path]:
    """Every staged symlink must stay inside the staged tree *and* inside ``root`` once merged.

    A link is judged twice: in the staging directory (with the staged links resolved) and at
    the place it will have after the merge (with what already exists under ``root`` resolved),
    so that neither a path through the staging directory's own name nor an existing link under
    the root can carry it outside.

    Returns:
        The final paths of the links (for :func:`_recheck_links`).
    """
    finals: list[Path] = []
    for directory, dirs, files in os.walk(staging):
        for entry in dirs + files:
            path = os.path.join(directory, entry)
            if not os.path.islink(path):
                continue
            rel = os.path.relpath(path, staging)
            text = os.readlink(path)
            final = root / rel
            if _is_absolute(text) or not _within(os.path.realpath(path), staging):
                _refuse(source, rel, f"link to {text!r} resolves outside the destination")
            lexical = os.path.normpath(os.path.join(final.parent, text))
            landing = os.path.realpath(os.path.join(os.path.realpath(final.parent), text))
            for target in (lexical, landing):
                if not _within(target, root) or _within(target, staging):
                    _refuse(source, rel, f"link to {text!r} would point outside {root} once "
                            "unpacked")
            finals.append(final)
    return finals


def _recheck_links(links: list[Path], root: Path, source: Path) -> None:
    """After the merge: a link that now resolves outside ``root`` is removed and reported."""
    escaped = [link for link in links
               if link.is_symlink() and not _within(os.path.realpath(link), root)]
    for link in escaped:
        link.unlink()
    if escaped:
        rel = os.path.relpath(escaped[0], root)
        _refuse(source, rel, f"link resolves outside {root} after unpacking ({len(escaped)} "
                "such link(s) removed)", extracted=True)


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name))


def _within(path: str | os.PathLike[str], root: Path) -> bool:
    """Whether ``path`` (absolute, normalised by the caller) is ``root`` or below it."""
    base = os.path.realpath(root)
    path = os.path.normpath(os.path.abspath(path))
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _refuse(source: Path, name: str, why: str, *, extracted: bool = False) -> None:
    done = ("the rest was unpacked" if extracted else "nothing was extracted")
    raise UnsafeArchiveError(
        f"{source}: refused member {name!r}: {why}; {done}. The archive is not a genuine corpus "
        "release: delete it and download it from the official URL"
    )


# ------------------------------------------------------------------------------ merge


def _plan_merge(src_dir: Path, dst_dir: Path, staging: Path,
                source: Path) -> list[tuple[Path, Path]]:
    """The renames that merge ``src_dir`` into ``dst_dir``; raises before any when in the way.

    A staged directory whose counterpart is a real directory is merged entry by entry; every
    other staged entry is renamed over its counterpart, which may be missing, a file or a
    link, never a directory (that would delete it), and a staged directory never lands on a
    file or a link (a link would carry its contents elsewhere).
    """
    moves: list[tuple[Path, Path]] = []
    for entry in sorted(os.scandir(src_dir), key=lambda e: e.name):
        src, dst = Path(entry.path), dst_dir / entry.name
        src_is_dir = entry.is_dir(follow_symlinks=False)
        if os.path.lexists(dst):
            dst_is_link = dst.is_symlink()
            dst_is_dir = not dst_is_link and dst.is_dir()
            rel = os.path.relpath(src, staging)
            if src_is_dir and dst_is_dir:
                moves += _plan_merge(src, dst, staging, source)
                continue
            if src_is_dir:
                what = "a link" if dst_is_link else "a file"
                raise ArchiveConflictError(
                    f"{source}: {dst} is {what}, but the archive holds a directory {rel!r} "
                    "there; move it out of the way and run again (nothing was unpacked)"
                )
            if dst_is_dir:
                raise ArchiveConflictError(
                    f"{source}: {dst} is a directory, but the archive holds a file {rel!r} "
                    "there; move the directory out of the way and run again (nothing was "
                    "unpacked)"
                )
        moves.append((src, dst))
    return moves
