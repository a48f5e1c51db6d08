"""Fetch and verify corpus archives (unpacking: :mod:`audiogan.data.archives`).

* :func:`download_file`: HTTP(S) download into ``<dest>.part`` that resumes with ``Range``
  requests after a cut connection, retries with exponential back-off, shows a tqdm progress bar
  and renames the file into place only after its size and checksums match.
* :func:`verify_file`: size plus every known checksum (sha256, md5) in one pass over the file.
  Where no checksum was published, the size is checked and a warning says so.

Unpacking is :func:`audiogan.data.archives.extract_archive`; the errors below are shared with it.

Every failure raises a :class:`CorpusError` subclass (a ``ValueError``) whose message names the
file and says how to retry or where to put a manually downloaded archive. A full disk, a
read-only directory or a missing ``file://`` source ends the download at once (retrying cannot
cure them); the partial file is kept for the next run.

Fault points (:mod:`audiogan.core.faults`): ``download.block`` after each block is written to the
partial file, ``download.before_rename`` before the verified partial file is renamed into place.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from audiogan.core.atomic import fsync_dir
from audiogan.core.errors import AudioganError, describe_os_error, one_line
from audiogan.core.faults import fault_point

__all__ = [
    "Checksum",
    "CorpusError",
    "DownloadError",
    "RemoteFile",
    "UnsafeArchiveError",
    "VerificationError",
    "download_file",
    "verify_file",
]

logger = logging.getLogger(__name__)

HashName = Literal["sha256", "md5"]
_CHUNK = 1 << 20
_MAX_BACKOFF = 60.0
#: OS errors writing the partial file that retrying cannot cure (the disk, not the network).
_LOCAL_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                           errno.EISDIR, errno.ENOTDIR, errno.ENOENT})


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
    hint = _manual_hint(url, target)
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https", "file"):
        raise DownloadError(f"{url}: not an http(s) or file URL; check the URL (or --mirror), "
                            f"or {hint}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    expected = remote.size if remote is not None else None
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
            if isinstance(exc, urllib.error.URLError):
                if isinstance(exc.reason, OSError) and exc.reason.errno in _LOCAL_ERRORS:
                    raise DownloadError(  # a file:// source that is missing or unreadable
                        f"{url}: {exc.reason.strerror or _reason(exc)}; check the URL (or "
                        f"--mirror), or {hint}"
                    ) from None
            elif isinstance(exc, OSError) and exc.errno in _LOCAL_ERRORS:
                raise DownloadError(
                    f"{url}: {describe_os_error(exc, part)}; the {_size(part)} bytes received "
                    f"so far are kept in {part}: run the same command again to resume"
                ) from None
            if isinstance(exc, http.client.InvalidURL):
                raise DownloadError(f"{url}: {one_line(exc)}; check the URL (or --mirror), or "
                                    f"{hint}") from None
            last_problem = f"download interrupted ({_reason(exc)})"
        except ValueError as exc:  # a malformed URL or header (Content-Length, Content-Range)
            raise DownloadError(
                f"{url}: {one_line(exc)}; check the URL (or --mirror), or {hint}"
            ) from None
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
    fault_point("download.before_rename")
    os.replace(part, target)
    fsync_dir(target.parent)
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
                fault_point("download.block")
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
