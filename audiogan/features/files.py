"""Log-mel features of audio files written as ``.npy`` files: the library side of ``features``.

Each input becomes ``<out_dir>/<stem>.npy``, float32 ``(n_mels, frames)``, written through
:mod:`audiogan.core.atomic` (a reader sees the old file or the new one; modes follow the umask). Two
inputs that would write the same file are refused before anything is written. Every problem
with one input is an :class:`~audiogan.audio.io.AudioError` whose one-line message names that
input, so a caller can report it and go on with the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from audiogan.audio.files import find_audio_files
from audiogan.audio.io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, AudioError, audio_info, load_audio
from audiogan.core.atomic import write_with
from audiogan.core.errors import describe_os_error
from audiogan.features.mel import FeatureError, FeatureSpec, MelSpectrogram

__all__ = ["check_feature_rate", "feature_targets", "write_features"]

logger = logging.getLogger(__name__)


def check_feature_rate(spec: FeatureSpec) -> None:
    """Raise :class:`FeatureError` when ``spec``'s sample rate is outside what audio I/O
    supports (checked before the mel basis is built)."""
    if not MIN_SAMPLE_RATE <= spec.sample_rate <= MAX_SAMPLE_RATE:
        raise FeatureError(
            f"--sample-rate {spec.sample_rate}: must be from {MIN_SAMPLE_RATE} to "
            f"{MAX_SAMPLE_RATE} Hz"
        )


def feature_targets(inputs: Sequence[Path], out_dir: Path) -> list[tuple[Path, Path]]:
    """``(input, out_dir/<stem>.npy)`` for each distinct input, in order.

    A directory stands for its audio files (:func:`~audiogan.audio.files.find_audio_files`:
    recursively, hidden files and ``out_dir`` left out, in path order); one without any stays
    an input, which :func:`write_features` then refuses. An input given twice is kept once.

    Raises:
        FeatureError: Two different inputs share a stem (``a/x.wav b/x.wav``): the message
            names both; nothing should be written.
    """
    owners: dict[Path, Path] = {}
    pairs: list[tuple[Path, Path]] = []
    for path in _expand(inputs, out_dir):
        target = out_dir / f"{path.stem}.npy"
        owner = owners.get(target)
        if owner is not None:
            if os.path.abspath(owner) == os.path.abspath(path):
                continue
            raise FeatureError(
                f"{owner} and {path} would both be written to {target}; rename one or run "
                "them separately (nothing written)"
            )
        owners[target] = path
        pairs.append((path, target))
    return pairs


def _expand(inputs: Sequence[Path], out_dir: Path) -> list[Path]:
    """Each input, a directory replaced by its audio files."""
    found: list[Path] = []
    for path in inputs:
        if not path.is_dir():
            found.append(path)
            continue
        # a directory without audio stays an input: reading it fails on one line, the rest go on
        found += sorted(find_audio_files(path, skip=out_dir)) or [path]
    return found


def write_features(path: Path, mel: MelSpectrogram, target: Path) -> tuple[int, int]:
    """Compute the log-mel features of the audio file ``path`` and write them to ``target``.

    Input at another rate is resampled to ``mel.sample_rate`` (several channels are mixed
    down); no loudness normalisation is applied.

    Args:
        path: The audio file.
        mel: The feature extractor.
        target: The ``.npy`` file to write: float32 ``(n_mels, frames)``.

    Returns:
        ``(n_mels, frames)``, the shape written.

    Raises:
        AudioError: ``path`` is unreadable, corrupt, empty, non-finite, at an unsupported rate,
            too short for one frame or too large for memory, or ``target`` cannot be written
            (nothing is left at ``target`` beyond what was there before).
    """
    rate = audio_info(path).sample_rate  # header problems before any decoding
    if rate != mel.sample_rate:
        logger.info("note: %s is %d Hz; resampled to %d Hz", path, rate, mel.sample_rate)
    try:
        wave, _ = load_audio(path, sample_rate=mel.sample_rate)
        samples = wave.shape[-1]
        if mel.frames_for(samples) < 1:
            raise AudioError(
                f"{path}: too short: {samples} samples at {mel.sample_rate} Hz give no feature "
                f"frame; it needs at least {mel.hop_length} samples", path)
        with torch.inference_mode():
            feats = mel(wave)[0].numpy().astype(np.float32)
    except MemoryError:
        raise AudioError(f"{path}: too large to process in memory; split the file", path) from None
    try:
        write_with(target, lambda handle: np.save(handle, feats, allow_pickle=False))
    except OSError as exc:
        line = describe_os_error(OSError(exc.errno, exc.strerror or str(exc)), target)
        raise AudioError(f"{path}: cannot write {line}", path) from exc
    return int(feats.shape[0]), int(feats.shape[1])
