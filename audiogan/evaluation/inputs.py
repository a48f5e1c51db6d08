"""The clips an evaluation reads: finding them, and screening each one before it is scored.

:func:`collect_clips` lists the clips of a manifest, an audio file or a directory;
:func:`screen_clip` decides, per loaded clip, whether it can be scored at all. Re-exported by
:mod:`audiogan.evaluation.run`.

Screening (after loading and mixing to mono, before any normalisation):

- **silent reference**: a peak below :data:`SILENCE_PEAK_DBFS` (-60 dBFS, i.e. no sample
  reaches 0.001 of full scale), or an RMS level below :data:`SILENCE_RMS_DBFS` (-70 dBFS: a
  noise floor, perhaps with a click; speech with pauses sits near -25 dBFS). Such a clip is not
  evaluated and is listed apart ("skipped: silent reference"): its spectra are all floor, so
  distances relative to it are meaningless (one silent clip in 15 made the mean MR-STFT 2.8e6).
  Peak normalisation would only amplify its noise.
- **too short**: under :data:`MIN_SECONDS` (0.1 s); the pitch tracker and the STFTs need a few
  frames.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

from torch import Tensor

from audiogan.audio.files import AUDIO_SUFFIXES, find_audio_files, has_audio_suffix
from audiogan.audio.io import AudioError, audio_info
from audiogan.core.errors import AudioganError
from audiogan.data.manifest import ManifestEntry, read_manifest

__all__ = [
    "AUDIO_SUFFIXES",
    "MIN_SECONDS",
    "SILENCE_PEAK_DBFS",
    "SILENCE_RMS_DBFS",
    "EvaluationError",
    "Screening",
    "collect_clips",
    "label_from_path",
    "reason_without_path",
    "screen_clip",
]


SILENCE_PEAK_DBFS = -60.0
"""A reference whose peak is below this level (dBFS) is silent: skipped, never averaged."""

SILENCE_RMS_DBFS = -70.0
"""A reference whose RMS level is below this (dBFS) is silent too."""

MIN_SECONDS = 0.1
"""Shortest clip that is evaluated, seconds."""


class EvaluationError(AudioganError, ValueError):
    """An evaluation cannot run or a clip cannot be scored; the message names it and the fix."""


def label_from_path(path: Path, root: Path) -> str | None:
    """Class label of a file found under ``root`` (directory input).

    Files in sub-folders take the name of their folder (SC09 / Speech Commands layout
    ``root/seven/abc_nohash_0.wav`` -> ``seven``); files directly in ``root`` take the part of
    the name before the first ``_`` (FSDD ``7_jackson_3.wav`` -> ``7``, Speech Commands flat
    ``nine_fafe8101_nohash_1.wav`` -> ``nine``), or no label when the name has no ``_``.

    Args:
        path: The file.
        root: The directory given.

    Returns:
        The label or None.
    """
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[-2]
    stem = path.stem
    return stem.split("_", 1)[0] if "_" in stem else None


def collect_clips(
    data: str | os.PathLike[str], limit: int | None = None
) -> tuple[list[ManifestEntry], list[tuple[str, str]]]:
    """The clips of a manifest, an audio file or a directory of audio files.

    A directory is searched recursively with
    :func:`~audiogan.audio.files.find_audio_files` (the suffixes of
    :data:`~audiogan.audio.files.AUDIO_SUFFIXES`; hidden files and folders skipped; sorted by
    path); labels follow :func:`label_from_path`. Unreadable files are left
    out and reported.

    Args:
        data: A TSV manifest, one audio file, or a directory.
        limit: Keep the first ``limit`` clips (in manifest or path order).

    Returns:
        ``(entries, rejected)`` with ``rejected`` as ``(path, reason)``; the reason does not
        repeat the path.

    Raises:
        EvaluationError: ``data`` does not exist, ``limit < 1``, or no clip could be used (the
            message names the first problem).
        ManifestError: ``data`` is a manifest that cannot be read.
    """
    source = Path(data)
    if not source.exists():
        raise EvaluationError(
            f"{source}: no such manifest, audio file or directory; check the --data path"
        )
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit must be >= 1, got {limit}")
    rejected: list[tuple[str, str]] = []
    if source.is_file() and not has_audio_suffix(source):
        entries = read_manifest(source)[:limit]
    else:
        files = [source] if source.is_file() else sorted(find_audio_files(source))
        entries = []
        for file in files:
            if limit is not None and len(entries) >= limit:
                break
            try:
                info = audio_info(file)
            except AudioError as exc:
                rejected.append((str(file), reason_without_path(str(file), exc)))
                continue
            label = label_from_path(file, source) if source.is_dir() else None
            entries.append(
                ManifestEntry(file.absolute(), info.num_frames, info.sample_rate, label=label)
            )
    if not entries:
        if rejected:
            first = f"{rejected[0][0]}: {rejected[0][1]}"
            raise EvaluationError(f"{source}: no usable audio clips (first problem: {first})")
        raise EvaluationError(
            f"{source}: no audio clips ({', '.join(AUDIO_SUFFIXES[:3])} ...) found; give a "
            "directory of clips, an audio file or a manifest"
        )
    return entries, rejected


def reason_without_path(item: str, error: BaseException | str) -> str:
    """The message of ``error`` without a leading ``"<item>: "`` (the caller names the item)."""
    text = " ".join(str(error).split())
    for prefix in (item, os.path.abspath(item)):
        if text.startswith(prefix + ": "):
            return text[len(prefix) + 2 :]
    return text


class Screening(NamedTuple):
    """Why a clip is not evaluated.

    Attributes:
        silent: True for a silent reference (listed apart as skipped), False for a failure.
        reason: One line with the measured value and the fix.
    """

    silent: bool
    reason: str


def screen_clip(wave: Tensor, sample_rate: int) -> Screening | None:
    """Why a loaded clip cannot be evaluated, or None when it can.

    Args:
        wave: ``(T,)`` samples as loaded (before normalisation).
        sample_rate: Its rate in Hz.

    Returns:
        A :class:`Screening` (silent reference, or too short), or None.
    """
    seconds = wave.numel() / sample_rate
    if seconds < MIN_SECONDS:
        return Screening(False, (
            f"too short ({seconds * 1000:.0f} ms; at least {MIN_SECONDS * 1000:.0f} ms needed): "
            "not evaluated; remove it from --data"
        ))
    peak = float(wave.abs().max())
    rms = float(wave.double().square().mean().sqrt())
    if peak == 0.0:
        level = "all samples zero"
    elif peak < 10.0 ** (SILENCE_PEAK_DBFS / 20.0):
        level = f"peak {20.0 * math.log10(peak):.1f} dBFS, below {SILENCE_PEAK_DBFS:.0f} dBFS"
    elif rms < 10.0 ** (SILENCE_RMS_DBFS / 20.0):
        level = f"RMS {20.0 * math.log10(rms):.1f} dBFS, below {SILENCE_RMS_DBFS:.0f} dBFS"
    else:
        return None
    return Screening(True, (
        f"silent reference ({level}): skipped and left out of every average; check the file "
        "or remove it from --data"
    ))
