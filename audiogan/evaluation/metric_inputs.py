"""Input checks and signal helpers shared by :mod:`audiogan.evaluation.metrics` and its parts.

Every metric takes 1-D waveforms (numpy arrays or tensors, any float dtype) and computes in
float64. A waveform that is not one channel, is empty or holds NaN/Inf samples, and a sample rate
that is not a positive integer, raise :class:`MetricInputError` (a user-fixable
:class:`~audiogan.core.errors.AudioganError`, also a ``ValueError``).
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import Tensor

from audiogan.audio.io import resample
from audiogan.core.errors import AudioganError

__all__ = [
    "MetricInputError",
    "Wave",
    "as_wave",
    "check_rate",
    "pair",
    "resample_array",
    "stft_magnitude",
]

Wave = np.ndarray | Tensor
"""A waveform: ``(T,)``, ``(1, T)`` or ``(1, 1, T)`` numpy array or tensor."""


class MetricInputError(AudioganError, ValueError):
    """A metric cannot be computed for this input (wrong shape, empty, NaN/Inf, bad rate)."""


def as_wave(wave: Wave, name: str = "wave") -> np.ndarray:
    """A 1-D float64 numpy copy of ``(T,)``, ``(1, T)`` or ``(1, 1, T)`` input.

    Raises:
        MetricInputError: Not one waveform, empty, or NaN/Inf samples.
    """
    if isinstance(wave, Tensor):
        array = wave.detach().to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(wave, dtype=np.float64)
    array = np.squeeze(array)
    if array.ndim != 1:
        raise MetricInputError(
            f"{name} must be one waveform (T,), got shape {tuple(np.shape(wave))}"
        )
    if array.size == 0:
        raise MetricInputError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise MetricInputError(f"{name} holds NaN or Inf samples")
    return array


def pair(reference: Wave, estimate: Wave) -> tuple[np.ndarray, np.ndarray]:
    """Both waveforms checked and cut to the shorter length, from the start: two ``(T,)``."""
    ref = as_wave(reference, "reference")
    est = as_wave(estimate, "estimate")
    length = min(ref.size, est.size)
    return ref[:length], est[:length]


def check_rate(sample_rate: int) -> int:
    """``sample_rate`` as an int; :class:`MetricInputError` unless a positive integer."""
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, float, np.integer, np.floating))
        or not np.isfinite(sample_rate)
        or int(sample_rate) != sample_rate
        or sample_rate <= 0
    ):
        raise MetricInputError(
            f"sample_rate must be a positive integer in Hz, got {sample_rate!r}"
        )
    return int(sample_rate)


def stft_magnitude(wave: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """``|STFT|`` ``(n_fft // 2 + 1, frames)``: Hann(win) centred in n_fft, centred frames."""
    return np.abs(
        librosa.stft(wave, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                     center=True, pad_mode="reflect")
    )


def resample_array(wave: np.ndarray, orig: int, target: int) -> np.ndarray:
    """``(T,)`` float64 resampled from ``orig`` to ``target`` Hz (itself when equal)."""
    if orig == target:
        return wave
    return resample(torch.from_numpy(wave), orig, target).numpy()
