"""Fetch, verify and safely unpack corpus archives.

* :func:`download_file`: HTTP(S) download into ``<dest>.part`` that resumes with ``Range``
  requests after a cut connection, retries with exponential back-off, shows a tqdm progress bar
  and renames the file into place only after its size and checksums match.
* :func:`verify_file`: size plus every known checksum (sha256, md5) in one pass over the file.
  Where no checksum was published, the size is checked and a warning says so.
* :func:`extract_archive`: tar (any compression) or zip, member by member into a staging
  directory inside the destination, refusing absolute paths, ``..`` components, links that
  resolve outside the destination, and device files / FIFOs (tarfile's ``data`` filter is used
  as well where this Python has it). On a refused member the staging directory is removed and
  nothing outside the destination has been written.

Every failure raises a :class:`CorpusError` subclass (a ``ValueError``) whose message names the
file and says how to retry or where to put a manually downloaded archive.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from audiogan.errors import AudioganError

__all__ = [
    "Checksum",
    "CorpusError",
    "DownloadError",
    "RemoteFile",
    "UnsafeArchiveError",
    "VerificationError",
    "download_file",
    "extract_archive",
    "verify_file",
]

logger = logging.getLogger(__name__)

HashName = Literal["sha256", "md5"]
_CHUNK = 1 << 20
_MAX_BACKOFF = 60.0
_DRIVE = re.compile(r"^[A-Za-z]:")
_FILTER_ERROR: type[Exception] | tuple[()] = getattr(tarfile, "FilterError", ())


class CorpusError(AudioganError, ValueError):
    """A corpus cannot be fetched, verified, unpacked or prepared; the message says what to do."""


class DownloadError(CorpusError):
    """A download failed for good (after the retries, or with a non-retryable HTTP status)."""


class VerificationError(CorpusError):
    """A file's size or checksum differs from the published value."""


class UnsafeArchiveError(CorpusError):
    """An archive holds a member that would land outside the destination, or a device file."""


@dataclass(frozen=True)
class Checksum:
    """A published checksum of a file.

    Attributes:
        algorithm: ``"sha256"`` or ``"md5"``.
        value: Lower-case hex digest.
        source: Where the value was published (page, file or repository).
    """

    algorithm: HashName
    value: str
    source: str


@dataclass(frozen=True)
class RemoteFile:
    """An archive on the web and what is known about it.

    Attributes:
        url: The official download URL.
        size: The size in bytes, or None when not known.
        checksums: Published checksums (may be empty: then only the size is checked).
        size_source: Where the size was published or observed.
        description: What the archive holds, for messages and docs.
    """

    url: str
    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    size_source: str | None = None
    description: str = ""

    @property
    def filename(self) -> str:
        """The last path component of :attr:`url` (query string removed)."""
        return self.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------ verification


def verify_file(path: str | os.PathLike[str], remote: RemoteFile, *, progress: bool = True) -> None:
    """Check a file's size and every published checksum of ``remote``.

    Args:
        path: The file.
        remote: What the file should be.
        progress: Show a progress bar while hashing.

    Raises:
        VerificationError: The size or a checksum differs (the file is left in place; callers
            decide whether to delete it).
        FileNotFoundError: ``path`` does not exist.
    """
    file = Path(path)
    size = file.stat().st_size
    if remote.size is not None and size != remote.size:
        raise VerificationError(
            f"{file}: size {size} bytes, expected {remote.size} bytes for {remote.filename} "
            f"(published by {remote.size_source or 'the corpus host'})"
        )
    if not remote.checksums:
        if remote.size is None:
            logger.warning(
                "%s: no published checksum or size for %s; the file is not verified",
                file,
                remote.filename,
            )
        else:
            logger.warning(
                "%s: no published checksum for %s; size only (%d bytes, matches)",
                file,
                remote.filename,
                size,
            )
        return
    digests = {name: hashlib.new(name) for name in {c.algorithm for c in remote.checksums}}
    with (
        open(file, "rb") as handle,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"verify {file.name}",
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        for block in iter(lambda: handle.read(_CHUNK), b""):
            for digest in digests.values():
                digest.update(block)
            bar.update(len(block))
    for checksum in remote.checksums:
        got = digests[checksum.algorithm].hexdigest()
        if got != checksum.value.lower():
            raise VerificationError(
                f"{file}: {checksum.algorithm} mismatch for {remote.filename}: expected "
                f"{checksum.value} (published by {checksum.source}), got {got}"
            )
    logger.info(
        "%s: verified (%s)", file, ", ".join(sorted(c.algorithm for c in remote.checksums))
    )


# ------------------------------------------------------------------------------ download


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    remote: RemoteFile | None = None,
    verify: bool = True,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``url`` to ``dest``, resuming and retrying, then verify it.

    Bytes go to ``<dest>.part``. A partial file from an earlier (interrupted) run is continued
    with a ``Range`` request; a server that ignores ranges (status 200) restarts the file. A cut
    connection, a timeout, a 5xx/408/429 status or a short body is retried after
    ``backoff * 2 ** attempt`` seconds (at most 60 s), resuming where it stopped. When complete,
    the size and checksums of ``remote`` are checked (unless ``verify`` is False) and the file is
    renamed to ``dest``. On a mismatch the partial file is deleted.

    Args:
        url: What to download (http, https or file URL).
        dest: The final path; its directory is created.
        remote: Expected size and checksums (the official ones; also for a mirror's copy).
        verify: Check size and checksums of ``remote`` when complete.
        retries: Retries after the first attempt.
        backoff: First retry delay in seconds; doubled for each further retry.
        timeout: Socket timeout per request in seconds.
        progress: Show a tqdm progress bar (stderr).
        sleep: The sleep function (tests pass a no-op).

    Returns:
        ``dest``.

    Raises:
        DownloadError: A non-retryable HTTP status, or still failing after ``retries`` retries
            (the partial file is kept so that the next run resumes).
        VerificationError: Size or checksum mismatch (the partial file is deleted).
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    expected = remote.size if remote is not None else None
    hint = _manual_hint(url, target)
    last_problem = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            delay = min(backoff * 2 ** (attempt - 1), _MAX_BACKOFF)
            logger.warning(
                "%s: %s; retry %d/%d in %.1f s, resuming at byte %d",
                target.name, last_problem, attempt, retries, delay, _size(part),
            )
            sleep(delay)
        try:
            if _fetch_once(url, part, expected, timeout, progress):
                break
            last_problem = f"connection closed early after {_size(part)} bytes"
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and expected is not None and _size(part) == expected:
                break  # the partial file was already complete
            if exc.code == 416:
                part.unlink(missing_ok=True)  # a stale partial file longer than the resource
                last_problem = "server refused the resume range (416); restarting"
                continue
            if exc.code in (408, 429) or 500 <= exc.code < 600:
                last_problem = f"HTTP {exc.code} {exc.reason}"
                continue
            raise DownloadError(
                f"{url}: HTTP {exc.code} {exc.reason}; check the URL (or --mirror), or {hint}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_problem = f"download interrupted ({_reason(exc)})"
    else:
        raise DownloadError(
            f"{url}: giving up after {retries + 1} attempts ({last_problem}); the "
            f"{_size(part)} bytes received so far are kept in {part}: run the same command "
            f"again to resume from there, or {hint}"
        )
    if verify and remote is not None:
        try:
            verify_file(part, remote, progress=progress)
        except VerificationError as exc:
            part.unlink(missing_ok=True)
            raise VerificationError(
                f"{exc}; the download was deleted. Run the same command again to download it "
                f"anew, pass --no-verify if the host serves another release on purpose, or "
                f"{hint}"
            ) from None
    os.replace(part, target)
    return target


def _fetch_once(
    url: str, part: Path, expected: int | None, timeout: float, progress: bool
) -> bool:
    """One request; appends to ``part``. True when the body arrived complete."""
    have = _size(part)
    if expected is not None and have == expected:
        return True
    headers = {"User-Agent": "audiogan-corpus-downloader", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        total: int | None
        if have and status == 206:
            mode = "ab"
            total = _range_total(response.headers.get("Content-Range"))
            if total is None and length is not None:
                total = have + int(length)
        else:
            if have:
                logger.info("%s: server ignored the resume range; starting over", part.name)
            mode, have = "wb", 0
            total = int(length) if length is not None else expected
        with (
            open(part, mode) as handle,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                handle.write(block)
                bar.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
    received = _size(part)
    if total is not None:
        return received >= total
    return expected is None or received >= expected


def _range_total(content_range: str | None) -> int | None:
    """The ``total`` of ``bytes start-end/total``, or None."""
    if not content_range or "/" not in content_range:
        return None
    tail = content_range.rsplit("/", 1)[1].strip()
    return int(tail) if tail.isdigit() else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return " ".join(text.split())


def _manual_hint(url: str, target: Path) -> str:
    return (
        f"download {url} yourself (browser, wget -c, a mirror) and put it at {target} "
        "(or pass --archive PATH)"
    )


# ------------------------------------------------------------------------------ extraction


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, progress: bool = True
) -> list[Path]:
    """Unpack a tar (gz/bz2/xz/plain) or zip archive into ``dest``, safely.

    Members are written into a staging directory inside ``dest`` one by one, after checking
    that each stays inside it: no absolute paths or drive letters, no ``..`` components, no
    symbolic or hard links whose target resolves outside, no device files or FIFOs, and no
    member written through a link. Where available, tarfile's ``data`` filter applies on top.
    When all members are out, the staged tree is merged into ``dest`` (directories merged,
    files replaced), so a run that stopped half-way leaves nothing half-extracted in place.

    Args:
        archive: The archive file.
        dest: The directory to unpack into (created).
        progress: Show a progress bar (members).

    Returns:
        The top-level entries written into ``dest``.

    Raises:
        UnsafeArchiveError: A member breaks a rule above (nothing is left in ``dest``'s staging
            directory and nothing was written outside ``dest``).
        CorpusError: The file is not a tar or zip archive, or is corrupt.
    """
    source = Path(archive)
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".extracting-{source.name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        if zipfile.is_zipfile(source):
            _extract_zip(source, staging, progress)
        elif tarfile.is_tarfile(source):
            _extract_tar(source, staging, progress)
        else:
            raise CorpusError(
                f"{source}: not a tar or zip archive (incomplete download?); delete it and "
                "download it again"
            )
        _check_tree(staging, source)
        tops = sorted(staging.iterdir())
        for entry in tops:
            _merge(entry, root / entry.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [root / entry.name for entry in tops]


def _extract_tar(source: Path, staging: Path, progress: bool) -> None:
    data_filter = getattr(tarfile, "data_filter", None)
    try:
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
                if data_filter is not None:
                    tar.extract(member, staging, set_attrs=False, filter=data_filter)
                else:  # pragma: no cover - Python without extraction filters
                    tar.extract(member, staging, set_attrs=False)
                bar.update(1)
    except _FILTER_ERROR as exc:
        raise UnsafeArchiveError(
            f"{source}: refused unsafe member ({exc}); nothing was extracted"
        ) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorpusError(
            f"{source}: corrupt or truncated archive ({_reason(exc)}); delete it and download "
            "it again"
        ) from None


def _check_tar_member(member: tarfile.TarInfo, staging: Path, source: Path) -> None:
    name = member.name
    where = _member_target(name, staging, source)
    _check_parent(where, staging, source, name)
    if member.isreg() or member.isdir():
        return
    if member.issym():
        link = member.linkname
        if _is_absolute(link):
            _refuse(source, name, f"symlink to absolute path {link!r}")
        resolved = os.path.normpath(os.path.join(os.path.realpath(where.parent), link))
        if not _within(resolved, staging):
            _refuse(source, name, f"symlink to {link!r} points outside the destination")
        return
    if member.islnk():
        link = member.linkname
        if _is_absolute(link) or not _within(
            os.path.normpath(os.path.join(os.path.realpath(staging), link)), staging
        ):
            _refuse(source, name, f"hard link to {link!r} outside the destination")
        return
    kind = "device file" if (member.ischr() or member.isblk()) else (
        "FIFO" if member.isfifo() else "special file"
    )
    _refuse(source, name, f"{kind} (only files, directories and inside links are allowed)")


def _extract_zip(source: Path, staging: Path, progress: bool) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            for info in infos:  # check everything before writing anything
                _member_target(info.filename, staging, source)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    _refuse(source, info.filename, "symbolic link entry in a zip archive")
                if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
                    _refuse(source, info.filename, "device file or FIFO")
            for info in tqdm(infos, desc=f"extract {source.name}", unit=" files",
                             disable=not progress, leave=False):
                where = _member_target(info.filename, staging, source)
                if where == staging:
                    continue
                _check_parent(where, staging, source, info.filename)
                archive.extract(info, staging)
    except zipfile.BadZipFile as exc:
        raise CorpusError(
            f"{source}: corrupt zip archive ({exc}); delete it and download it again"
        ) from None


def _member_target(name: str, staging: Path, source: Path) -> Path:
    """Where member ``name`` lands, after the lexical checks."""
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


def _check_tree(staging: Path, source: Path) -> None:
    """Final walk: every symlink in the staged tree resolves inside it."""
    for directory, dirs, files in os.walk(staging):
        for entry in dirs + files:
            path = os.path.join(directory, entry)
            if os.path.islink(path) and not _within(os.path.realpath(path), staging):
                _refuse(source, os.path.relpath(path, staging), "link resolves outside")


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name))


def _within(path: str, root: Path) -> bool:
    base = os.path.realpath(root)
    path = os.path.normpath(path)
    return path == base or path.startswith(base + os.sep)


def _refuse(source: Path, name: str, why: str) -> None:
    raise UnsafeArchiveError(
        f"{source}: refused member {name!r}: {why}; nothing was extracted. The archive is not "
        "a genuine corpus release: delete it and download it from the official URL"
    )


def _merge(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; directories are merged, anything else is replaced."""
    if dst.is_dir() and not dst.is_symlink() and src.is_dir() and not src.is_symlink():
        for child in list(src.iterdir()):
            _merge(child, dst / child.name)
        src.rmdir()
        return
    if dst.is_symlink() or dst.is_file():
        dst.unlink()
    elif dst.is_dir():
        shutil.rmtree(dst)
    os.replace(src, dst)
