"""The report directory: built beside its target, swapped in whole, never seen half-written.

:class:`ReportDirectory` builds a report in a hidden staging directory beside the target
(:class:`audiogan.core.atomic.StagedDirectory`, named ``.<target>.<12 hex>.staging``) and swaps it
in
on :meth:`ReportDirectory.commit`. Leaving it with an exception (a failure, a full disk, Ctrl-C)
removes the staging directory and leaves an earlier report at the target untouched. A process
killed outright (``SIGKILL``, the OOM killer) cannot clean up: the next report written to the same
target removes what it left (staging directories are locked with ``flock`` while in use, so a
run still in progress is never disturbed) and, should the kill have fallen between the two
renames of the swap, puts the earlier report back first.

An existing target is replaced only when it is empty or an earlier audiogan report (it holds a
``summary.json`` whose ``format`` is :data:`REPORT_FORMAT`); anything else raises
:class:`ReportError`. A write that fails (no space, no permission) raises :class:`ReportError`
naming the file and the fix.

Fault points (:mod:`audiogan.core.faults`): ``report.write`` before each file is written into the
staging directory; the swap itself passes ``atomic.before_fsync`` (text files) and
``atomic.before_swap``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from audiogan.audio.io import AudioError, save_audio
from audiogan.core.atomic import StagedDirectory, write_text
from audiogan.core.errors import AudioganError, describe_os_error
from audiogan.core.faults import fault_point

try:  # POSIX: lock staging directories while in use
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl module there: locking is skipped

__all__ = ["REPORT_FORMAT", "ReportDirectory", "ReportError", "relative_url"]

logger = logging.getLogger(__name__)

REPORT_FORMAT = "audiogan-evaluation"
"""``format`` tag of ``summary.json``; marks a directory as a replaceable audiogan report."""

_DYNAMIC_RANGE_DB = 80.0
_DIFF_RANGE_DB = 20.0
_FIG_SIZE = (4.2, 1.7)
_DPI = 100


class ReportError(AudioganError, ValueError):
    """A report cannot be written where asked; the message names the directory and the fix."""


def relative_url(relative: str) -> str:
    """URL-quote a relative POSIX path for ``src``/``href``.

    Raises:
        ReportError: ``relative`` is absolute, leaves the report (``..``) or has a scheme.
    """
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        raise ReportError(f"report links must be relative and inside the report: {relative!r}")
    return "/".join(quote(part) for part in path.parts)


def _is_replaceable(target: Path) -> bool:
    if not target.exists():
        return True
    if not target.is_dir() or target.is_symlink():
        return False
    if not any(target.iterdir()):
        return True
    try:
        summary = json.loads((target / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("format") == REPORT_FORMAT


def _leftovers(target: Path) -> list[Path]:
    """Staging and backup directories that runs for ``target`` left beside it."""
    name = re.escape(target.name)
    pattern = re.compile(
        rf"^\.{name}\.(?:[0-9a-f]{{12}}\.(?:staging|old)|(?:partial|old)-[0-9a-f]{{8}})$"
    )
    with contextlib.suppress(OSError):
        return sorted(p for p in target.parent.iterdir() if pattern.match(p.name))
    return []


def _try_lock(directory: Path) -> int | None:
    """An fd holding an exclusive ``flock`` on ``directory``, or None when another holds it."""
    fd = os.open(directory, os.O_RDONLY)
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _clean_leftovers(target: Path) -> None:
    """Remove what killed runs for ``target`` left; restore an earlier report caught mid-swap."""
    if fcntl is None:  # pragma: no cover - cannot tell a live run from a dead one
        return
    for leftover in _leftovers(target):
        try:
            fd = _try_lock(leftover)
        except OSError:
            continue
        if fd is None:  # a live run is building it
            continue
        try:
            backup = leftover.name.endswith(".old") or "old-" in leftover.name
            if backup and not target.exists():
                os.rename(leftover, target)
                logger.warning("%s: restored the earlier report from %s", target, leftover.name)
            else:
                shutil.rmtree(leftover, ignore_errors=True)
                logger.info("removed %s, left by an interrupted run", leftover)
        finally:
            os.close(fd)


def _save_figure(
    path: Path, data: np.ndarray, seconds: float, title: str, cmap: str, vmin: float,
    vmax: float,
) -> None:
    figure = Figure(figsize=_FIG_SIZE, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(
        data, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
        extent=(0.0, max(seconds, 1e-3), 0, data.shape[0]), interpolation="nearest",
    )
    axes.set_title(title, fontsize=8)
    axes.set_xlabel("s", fontsize=7, labelpad=0)
    axes.set_ylabel("mel", fontsize=7, labelpad=0)
    axes.tick_params(labelsize=6)
    colorbar = figure.colorbar(image, ax=axes, pad=0.01, aspect=12)
    colorbar.ax.tick_params(labelsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


class ReportDirectory:
    """A report built in a staging directory and swapped into place atomically.

    Use as a context manager; leaving it with an exception discards the staging directory.

    Args:
        target: The report directory to (re)place.

    Raises:
        ReportError: ``target`` exists and is neither empty nor an earlier audiogan report, or
            its parent cannot be written.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target).absolute()
        self._check_target()
        self.committed = False
        with self._writing(self.target):
            self.target.parent.mkdir(parents=True, exist_ok=True)
            _clean_leftovers(self.target)
            self._staged = StagedDirectory(self.target)
            self.staging = self._staged.__enter__()
        try:
            self._lock = _try_lock(self.staging)
        except OSError:
            self._lock = None

    def _check_target(self) -> None:
        if self.target.is_symlink():
            raise ReportError(
                f"{self.target}: is a symbolic link; give the directory it points to, or a new "
                "path"
            )
        if not _is_replaceable(self.target):
            raise ReportError(
                f"{self.target}: exists and is not an audiogan report; give a new or empty "
                "directory (an earlier report there is replaced)"
            )

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn a failed write into one :class:`ReportError` line naming the file and the fix."""
        try:
            yield
        except OSError as exc:
            raise ReportError(
                f"{describe_os_error(exc, path)}; no report was written (an earlier report at "
                f"{self.target} is unchanged)"
            ) from exc
        except AudioError as exc:
            raise ReportError(
                f"{exc}; no report was written (an earlier report at {self.target} is unchanged)"
            ) from exc

    def __enter__(self) -> ReportDirectory:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.committed:
            self.discard()

    def path(self, relative: str) -> Path:
        """Absolute staging path of a relative report path (parents created)."""
        relative_url(relative)  # validates: relative and inside
        full = self.staging / PurePosixPath(relative)
        with self._writing(full.parent):
            full.parent.mkdir(parents=True, exist_ok=True)
        return full

    def write_audio(self, relative: str, wave: np.ndarray | Tensor, sample_rate: int) -> str:
        """Write a 16-bit PCM WAV (clipped to [-1, 1]) of ``(T,)`` samples; returns ``relative``."""
        samples = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
        target = self.path(relative)
        with self._writing(target), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fault_point("report.write")
            save_audio(target, samples.clamp(-1.0, 1.0), int(sample_rate))
        return relative

    def write_spectrogram(
        self,
        relative: str,
        mel_db: np.ndarray,
        seconds: float,
        *,
        title: str,
        top_db: float | None = None,
    ) -> str:
        """Write a mel-spectrogram PNG (80 dB range below ``top_db``); returns ``relative``.

        Args:
            relative: PNG path in the report.
            mel_db: ``(n_mels, frames)`` dB values
            (:func:`audiogan.evaluation.report.display_mel_db`).
            seconds: Duration, for the time axis.
            title: Title above the image.
            top_db: Top of the colour scale; None: the image's own maximum. Pass the
                original's maximum for a model's output so both share one scale.
        """
        top = float(np.max(mel_db)) if top_db is None else float(top_db)
        target = self.path(relative)
        with self._writing(target):
            fault_point("report.write")
            _save_figure(target, mel_db, seconds, title, "magma", top - _DYNAMIC_RANGE_DB, top)
        return relative

    def write_difference(
        self, relative: str, reference_db: np.ndarray, estimate_db: np.ndarray, seconds: float,
        *, title: str = "output − original (dB)",
    ) -> str:
        """Write a PNG of ``estimate_db - reference_db`` (±20 dB, diverging colours).

        Both ``(n_mels, frames)`` are cut to the shorter frame count. Returns ``relative``.
        """
        frames = min(reference_db.shape[1], estimate_db.shape[1])
        diff = estimate_db[:, :frames] - reference_db[:, :frames]
        target = self.path(relative)
        with self._writing(target):
            fault_point("report.write")
            _save_figure(
                target, diff, seconds, title, "RdBu_r", -_DIFF_RANGE_DB, _DIFF_RANGE_DB
            )
        return relative

    def write_text(self, relative: str, text: str) -> Path:
        """Write a UTF-8 text file into the staging directory (atomically)."""
        target = self.path(relative)
        with self._writing(target):
            fault_point("report.write")
            write_text(target, text)
        return target

    def commit(self, page: str) -> Path:
        """Write ``report.html`` and swap the staging directory into place.

        An earlier report at the target is replaced (moved aside, removed once the new one is
        in place).

        Args:
            page: The HTML of :func:`audiogan.evaluation.report.render_html`.

        Returns:
            The path of ``report.html`` in the target directory.
        """
        if self.committed:
            raise ReportError(f"{self.target}: report already committed")
        self.write_text("report.html", page)
        self._check_target()
        with self._writing(self.target):
            self._staged.commit()
        self.committed = True
        self._unlock()
        logger.info("report written to %s", self.target / "report.html")
        return self.target / "report.html"

    def discard(self) -> None:
        """Remove the staging directory (nothing at the target changes)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)
            self._lock = None
