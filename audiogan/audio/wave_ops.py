"""Small waveform helpers: mix down to mono, peak-normalise, detect silence.

Re-exported by :mod:`audiogan.audio.io`, their public home. Waveforms are float tensors shaped
``(..., T)`` (``(channels, T)`` for :func:`to_mono`) with full scale 1.0.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["is_silent", "peak_normalize", "to_mono"]

_SILENCE_FLOOR = 1e-8  # -160 dBFS: a peak below this is digital silence for peak_normalize


def to_mono(wave: Tensor) -> Tensor:
    """Mix channels down to one by their mean.

    Args:
        wave: ``(channels, T)``.

    Returns:
        ``(1, T)``; ``wave`` itself when it already has one channel.
    """
    if wave.dim() != 2:
        raise ValueError(f"to_mono expects (channels, T), got shape {tuple(wave.shape)}")
    return wave if wave.shape[0] == 1 else wave.mean(dim=0, keepdim=True)


def peak_normalize(wave: Tensor, peak: float = 0.95) -> Tensor:
    """Scale so the largest absolute sample equals ``peak``.

    One gain is applied to the whole tensor, so the balance between channels is kept; normalise
    the items of a batch one by one.

    Args:
        wave: ``(..., T)`` floating-point samples.
        peak: Target peak, a positive number (0.95 leaves headroom below full scale).

    Returns:
        A new tensor of the same shape and dtype. Silent input (peak below 1e-8, i.e. about
        -160 dBFS, including all zeros and empty tensors) is returned unchanged.

    Raises:
        TypeError: ``wave`` is not floating point.
        ValueError: ``peak`` is not positive and finite, or ``wave`` holds NaN/Inf.
    """
    if not wave.is_floating_point():
        raise TypeError(f"peak_normalize needs a floating-point tensor, got {wave.dtype}")
    if not (np.isfinite(peak) and peak > 0):
        raise ValueError(f"peak must be a positive finite number, got {peak}")
    if wave.numel() == 0:
        return wave
    current = float(wave.detach().abs().amax())
    if not np.isfinite(current):
        raise ValueError("peak_normalize got non-finite (NaN/Inf) samples")
    if current < _SILENCE_FLOOR:
        return wave
    return wave * (peak / current)


def is_silent(wave: Tensor, threshold_db: float = -60.0) -> bool:
    """Whether the peak level is below ``threshold_db``.

    Args:
        wave: ``(..., T)`` samples, full scale 1.0.
        threshold_db: Level in dBFS (``20 * log10(peak)``).

    Returns:
        True when ``max |wave|`` is below ``10 ** (threshold_db / 20)`` or ``wave`` is empty.
        NaN samples never count as silent.
    """
    if wave.numel() == 0:
        return True
    current = float(wave.detach().abs().amax())
    return bool(current < 10.0 ** (threshold_db / 20.0))
