"""Audio file I/O: load, save, resample (and the waveform helpers of
:mod:`audiogan.audio.wave_ops`).

All file I/O goes through ``soundfile`` (libsndfile: WAV, FLAC, OGG and whatever else the
installed libsndfile reads); resampling uses libsoxr (``soxr``, high quality), whose cost does not
depend on the ratio of the two rates (a 44,101 Hz file costs what a 44,100 Hz one does). Sample
rates must lie in ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]`` (1 kHz - 384 kHz). Files are written
through :mod:`audiogan.core.atomic`. Waveforms are float tensors shaped ``(channels, T)`` with
samples
in ``[-1, 1]``.

Every problem with a file raises :class:`AudioError`, whose one-line message names the file, the
problem and, where there is one, the fix, so that callers (the CLI, corpus preparation) can skip
a bad file and report it without a traceback.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr
import torch
from torch import Tensor

from audiogan.audio.wav_header import missing_wav_data
from audiogan.audio.wave_ops import is_silent, peak_normalize, to_mono
from audiogan.core.atomic import atomic_write
from audiogan.core.errors import AudioganError, describe_os_error

__all__ = [
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "SAVE_FORMATS",
    "AudioError",
    "AudioInfo",
    "SampleRateError",
    "audio_info",
    "is_silent",
    "load_audio",
    "peak_normalize",
    "resample",
    "save_audio",
    "to_mono",
]

logger = logging.getLogger(__name__)

MAX_CHANNELS: int = 16
"""Most channels :func:`load_audio` (``mono=False``) and :func:`save_audio` accept.

Sixteen covers every speech and music layout up to 9.1.6 surround and third-order ambisonics;
more than that is almost always a transposed ``(T, channels)`` array or a raw multi-microphone
recording, which ``load_audio(..., mono=True)`` still mixes down.
"""

MIN_SAMPLE_RATE: int = 1_000
MAX_SAMPLE_RATE: int = 384_000
"""The sample rates (Hz) audiogan reads, writes and resamples: telephone speech to 384 kHz studio
audio. A header outside this range is almost always corrupt or hostile."""

SAVE_FORMATS: dict[str, str] = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
"""File extension (lower case) -> libsndfile major format used by :func:`save_audio`."""

_BLOCK_FRAMES = 1 << 16  # frames decoded at a time by load_audio


class AudioError(AudioganError):
    """A file cannot be read or written as audio.

    The message is one line: the file, the problem and, where there is one, the fix, e.g.
    ``"clips/a.wav: empty: the file holds no samples"``. ``path`` holds the file when known.
    Constructed like any exception (``AudioError(message)``), so it pickles and survives
    DataLoader worker processes with its type.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.path = None if path is None else os.fspath(path)


class SampleRateError(AudioError, ValueError):
    """A sample rate argument is not an integer in ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]``."""


def _error(path: str | os.PathLike[str], problem: str, fix: str | None = None) -> AudioError:
    """``AudioError("<path>: <problem>; <fix>")``."""
    return AudioError(f"{os.fspath(path)}: {problem}" + (f"; {fix}" if fix else ""), path)


class AudioInfo(NamedTuple):
    """What :func:`audio_info` reads from a file header."""

    sample_rate: int
    num_frames: int
    channels: int
    duration: float
    """Seconds: ``num_frames / sample_rate``."""


def load_audio(
    path: str | os.PathLike[str], sample_rate: int | None = None, mono: bool = True
) -> tuple[Tensor, int]:
    """Read an audio file into a float32 tensor.

    Args:
        path: Any file libsndfile reads (WAV, FLAC, OGG/Vorbis, ...).
        sample_rate: Resample to this rate when given and different from the file's rate.
        mono: Mix all channels down to one by their mean. With ``mono=False`` the channels are
            kept, up to :data:`MAX_CHANNELS`.

    Returns:
        ``(wave, sr)``: ``wave`` is float32 ``(channels, T)`` in ``[-1, 1]`` (``channels == 1``
        when ``mono``); ``sr`` is ``sample_rate`` when given, else the file's rate. Float files
        with samples outside ``[-1, 1]`` are clipped with a logged warning; resampled output is
        clamped to ``[-1, 1]`` (sinc overshoot).

    Raises:
        AudioError: The file is missing, not audio or corrupt (including truncated data), has
            no samples, holds NaN/Inf samples, or has more than :data:`MAX_CHANNELS` channels
            with ``mono=False``.
        SampleRateError: ``sample_rate`` is not an integer in the supported range.
    """
    if sample_rate is not None:
        _check_rate(sample_rate, "sample_rate")
    info = _open_checked(path)
    if not mono and info.channels > MAX_CHANNELS:
        raise _error(
            path,
            f"{info.channels} channels is more than the {MAX_CHANNELS} supported",
            "load with mono=True to mix them down",
        )
    mix = mono and info.channels > 1
    try:
        data = _decode(path, info, mix)
    except MemoryError:
        raise _error(path, f"too large to load ({info.num_frames} frames x {info.channels} "
                     "channels)", "split the file or free memory") from None
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise _error(
            path, f"corrupt audio data ({_describe(exc)})", "re-export or re-download the file"
        ) from exc
    file_sr = info.sample_rate
    wave = torch.from_numpy(np.ascontiguousarray(data.T))  # (T, C) -> (C, T), mixed if mono
    if sample_rate is not None and sample_rate != file_sr:
        wave = resample(wave, file_sr, sample_rate).clamp_(-1.0, 1.0)
        file_sr = sample_rate
    return wave, int(file_sr)


def save_audio(
    path: str | os.PathLike[str],
    wave: Tensor | np.ndarray,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> Path:
    """Write a waveform atomically; the format comes from the extension.

    The samples go through :func:`audiogan.core.atomic.atomic_write` (a temporary file beside the
    target, flushed, fsynced and renamed over ``path``), so a reader never sees a half-written
    file and a failure leaves any previous file at ``path`` untouched. Missing parent
    directories are created. Samples outside ``[-1, 1]`` are clipped (never wrapped) with a
    logged warning.

    Args:
        path: Target file; its extension picks the format (see :data:`SAVE_FORMATS`).
        wave: ``(T,)`` or ``(channels, T)`` floating-point samples, nominally in ``[-1, 1]``.
        sample_rate: Sample rate in Hz.
        subtype: libsndfile subtype, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"`` (WAV) or
            ``"VORBIS"``/``"OPUS"`` (OGG). For ``.ogg`` the default ``"PCM_16"`` means Vorbis,
            since OGG holds no PCM.

    Returns:
        The path written.

    Raises:
        AudioError: Unsupported extension or subtype, empty or non-finite samples, more than
            :data:`MAX_CHANNELS` channels, or the write failed (nothing is left at ``path``
            beyond what was there before).
        TypeError: ``wave`` is not a floating-point tensor or array.
        ValueError: ``wave`` is not 1-D or 2-D.
        SampleRateError: ``sample_rate`` is not an integer in the supported range.
    """
    target = Path(path)
    _check_rate(sample_rate, "sample_rate")
    major, subtype = _format_for(target, subtype)
    frames = _frames_for_writing(target, wave)  # (T, C), checked and clipped

    try:
        with atomic_write(target) as handle:
            sf.write(handle, frames, sample_rate, format=major, subtype=subtype)
    except OSError as exc:  # the target named, not the temporary file
        reason, _, fix = describe_os_error(OSError(exc.errno, _describe(exc))).partition("; ")
        raise _error(target, f"cannot write ({reason})", fix or "check the path") from exc
    except (sf.SoundFileError, RuntimeError) as exc:
        raise _error(
            target, f"cannot write ({_describe(exc)})", "check free space and permissions"
        ) from exc
    return target


def resample(wave: Tensor, orig_sr: int, target_sr: int) -> Tensor:
    """Band-limited resampling along the last axis (libsoxr, high quality, on the CPU).

    Time and memory are linear in ``T`` whatever the two rates are (a polyphase kernel sized by
    their greatest common divisor would need gigabytes for 44,101 -> 22,050 Hz). Not
    differentiable: the result is computed from ``wave.detach()``.

    Args:
        wave: ``(..., T)`` floating-point samples, on any device.
        orig_sr: Rate of ``wave`` in Hz.
        target_sr: Wanted rate in Hz.

    Returns:
        ``(..., ceil(T * target_sr / orig_sr))`` in the input's dtype and on its device;
        ``wave`` itself when the rates are equal.

    Raises:
        TypeError: ``wave`` is not floating point.
        SampleRateError: A rate is not an integer in ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]``.
    """
    _check_rate(orig_sr, "orig_sr")
    _check_rate(target_sr, "target_sr")
    if not wave.is_floating_point():
        raise TypeError(f"resample needs a floating-point tensor, got {wave.dtype}")
    if orig_sr == target_sr:
        return wave
    length = wave.shape[-1]
    out_length = math.ceil(length * int(target_sr) / int(orig_sr))
    work = wave.detach().cpu()
    work = work if work.dtype in (torch.float32, torch.float64) else work.float()
    rows = work.reshape(math.prod(wave.shape[:-1]), length).numpy()  # (N, T)
    out = np.zeros((rows.shape[0], out_length), dtype=rows.dtype)
    if length and rows.shape[0]:
        done = soxr.resample(np.ascontiguousarray(rows.T), int(orig_sr), int(target_sr), "HQ")
        done = done.reshape(-1, rows.shape[0]).T[:, :out_length]  # (N, <= out_length)
        out[:, : done.shape[1]] = done
    result = torch.from_numpy(out).reshape(*wave.shape[:-1], out_length)
    return result.to(device=wave.device, dtype=wave.dtype)


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read sample rate, length and channel count from the header, without decoding samples.

    A file that passes here can still fail in :func:`load_audio` only for problems inside the
    sample data (NaN/Inf samples, a corrupt compressed stream).

    Args:
        path: Any file libsndfile reads.

    Returns:
        :class:`AudioInfo` with ``duration = num_frames / sample_rate`` in seconds.

    Raises:
        AudioError: The file is missing, not audio or corrupt, a WAV whose data is truncated,
            or holds no samples.
    """
    info = _open_checked(path)
    if info.num_frames == 0:
        raise _error(path, "empty: the file holds no samples")
    return info


# --------------------------------------------------------------------------- internals


def _check_rate(rate: int, name: str) -> None:
    if (isinstance(rate, bool) or not isinstance(rate, (int, np.integer))
            or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
        raise SampleRateError(
            f"{name} must be an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, "
            f"got {rate!r}"
        )


def _describe(exc: BaseException) -> str:
    """A short one-line reason from a soundfile/OS error (without the path it may repeat)."""
    text = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or str(exc)
    text = " ".join(str(text).split()).removeprefix("Error : ").rstrip(".")
    return text or type(exc).__name__


def _open_checked(path: str | os.PathLike[str]) -> AudioInfo:
    """Header checks shared by :func:`load_audio` and :func:`audio_info` (0 frames allowed)."""
    file = Path(path)
    try:  # libsndfile words an unreadable file as "System error"
        status = file.stat()
        if stat.S_ISREG(status.st_mode) and status.st_size:
            os.close(os.open(file, os.O_RDONLY))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise _error(path, "file not found", "check the path") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise _error(path, "permission denied", "check the file's permissions") from None
        raise _error(path, f"cannot open ({_describe(exc)})", "check the path") from None
    if stat.S_ISDIR(status.st_mode):
        raise _error(path, "is a directory, not an audio file")
    if not stat.S_ISREG(status.st_mode):
        raise _error(path, "not a regular file (a device, pipe or socket)", "give an audio file")
    if status.st_size == 0:
        raise _error(path, "empty file (0 bytes)")
    try:
        info = sf.info(os.fspath(file))
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        reason = _describe(exc)  # libsndfile words an unknown format as a missing file
        if reason.startswith("File does not exist or is not a regular file"):
            reason = "format not recognised"
        raise _error(
            path,
            f"not a readable audio file ({reason})",
            "check that it is WAV, FLAC or OGG and not truncated or corrupt",
        ) from exc
    if info.channels < 1:
        raise _error(path, f"unsupported channel layout ({info.channels} channels)")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise _error(
            path,
            f"sample rate {info.samplerate} Hz in the header is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
            "resample the file (e.g. sox in.wav -r 22050 out.wav) or fix its header",
        )
    missing = missing_wav_data(file) if info.format in ("WAV", "WAVEX") else None
    if missing is not None:
        raise _error(
            file,
            f"truncated WAV: header declares {missing[0]} data bytes, the file holds {missing[1]}",
            "re-export or re-download the file",
        )
    return AudioInfo(
        sample_rate=int(info.samplerate),
        num_frames=int(info.frames),
        channels=int(info.channels),
        duration=info.frames / info.samplerate,
    )


def _decode(path: str | os.PathLike[str], info: AudioInfo, mix: bool) -> np.ndarray:
    """All samples as float32 ``(T, C)`` (``(T, 1)``, the channels' mean, when ``mix``).

    Read in blocks of :data:`_BLOCK_FRAMES` frames, so mixing a many-channel file down needs
    memory for ``T`` samples, not ``T * C``. Samples outside ``[-1, 1]`` are clipped (before
    mixing) with a logged warning. AudioError: truncated, empty or non-finite data.
    """
    width = 1 if mix else info.channels
    data = np.empty((info.num_frames, width), dtype=np.float32)
    extra: list[np.ndarray] = []  # frames beyond the header's count (never for WAV/FLAC)
    filled = bad = clipped = 0
    peak = 0.0
    with sf.SoundFile(os.fspath(path)) as handle:
        while True:
            block = handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
            if not len(block):
                break
            finite = np.isfinite(block)
            if not finite.all():
                bad += int(block.size - finite.sum())
                continue
            magnitude = np.abs(block)
            if magnitude.max() > 1.0:
                clipped += int((magnitude > 1.0).sum())
                peak = max(peak, float(magnitude.max()))
                np.clip(block, -1.0, 1.0, out=block)
            if mix:
                block = block.mean(axis=1, keepdims=True)
            room = min(len(block), info.num_frames - filled)
            data[filled : filled + room] = block[:room]
            filled += room
            if room < len(block):
                extra.append(block[room:])
    if bad:
        raise _error(path, f"{bad} non-finite (NaN/Inf) samples", "re-export the file")
    if filled < info.num_frames:
        raise _error(
            path,
            f"truncated: audio data ends after {filled} of {info.num_frames} frames",
            "re-export or re-download the file",
        )
    if extra:
        data = np.concatenate([data, *extra])
    if len(data) == 0:
        raise _error(path, "empty: the file holds no samples")
    if clipped:
        logger.warning("%s: %d samples outside [-1, 1] (peak %.4g) clipped", os.fspath(path),
                       clipped, peak)
    return data


def _format_for(target: Path, subtype: str) -> tuple[str, str]:
    """``(major format, subtype)`` for writing ``target``, or AudioError naming the fix."""
    major = SAVE_FORMATS.get(target.suffix.lower())
    if major is None:
        raise _error(
            target,
            f"unsupported extension {target.suffix!r}",
            f"use one of {', '.join(SAVE_FORMATS)}",
        )
    subtype = subtype.upper()
    if major == "OGG" and subtype == "PCM_16":  # the default: OGG has no PCM, mean Vorbis
        subtype = sf.default_subtype(major)
    if not sf.check_format(major, subtype):
        raise _error(
            target,
            f"subtype {subtype!r} cannot be written as {major}",
            f"use one of {', '.join(sorted(sf.available_subtypes(major)))}",
        )
    return major, subtype


def _frames_for_writing(target: Path, wave: Tensor | np.ndarray) -> np.ndarray:
    """Check ``wave`` ((T,) or (C, T)) and return clipped ``(T, C)`` samples for soundfile."""
    if isinstance(wave, Tensor):
        if not wave.is_floating_point():
            raise TypeError(f"save_audio needs floating-point samples, got {wave.dtype}")
        work = wave.detach().cpu()
        if work.dtype not in (torch.float32, torch.float64):
            work = work.float()
        data = work.numpy()
    else:
        data = np.asarray(wave)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"save_audio needs floating-point samples, got {data.dtype}")
        if data.dtype not in (np.float32, np.float64):
            data = data.astype(np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise ValueError(
            f"save_audio expects a wave shaped (T,) or (channels, T), got {tuple(data.shape)}"
        )
    channels, length = data.shape
    if channels > MAX_CHANNELS:
        hint = "this looks transposed: pass (channels, T)" if length <= MAX_CHANNELS else None
        raise _error(target, f"{channels} channels is more than the {MAX_CHANNELS} supported", hint)
    if channels == 0 or length == 0:
        raise _error(target, f"nothing to write: wave shape {tuple(data.shape)} is empty")
    finite = np.isfinite(data)
    if not finite.all():
        raise _error(
            target,
            f"{int(data.size - finite.sum())} non-finite (NaN/Inf) samples; nothing written",
        )
    outside = np.abs(data) > 1.0
    if outside.any():
        logger.warning(
            "%s: %d samples outside [-1, 1] (peak %.4g) clipped before writing",
            target,
            int(outside.sum()),
            float(np.abs(data).max()),
        )
        data = np.clip(data, -1.0, 1.0)
    return np.ascontiguousarray(data.T)
