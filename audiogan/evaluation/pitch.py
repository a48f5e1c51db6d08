"""F0, voicing and periodicity with ``librosa.pyin``, and the errors between two pitch tracks.

Metric keys ``f0_rmse_cents``, ``vuv_error_pct`` and ``periodicity_rmse`` of
:mod:`audiogan.evaluation.metrics` (which documents them and re-exports these names).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import librosa
import numpy as np

from audiogan.evaluation.metric_inputs import (
    MetricInputError,
    Wave,
    as_wave,
    check_rate,
    resample_array,
)

__all__ = ["PitchTrack", "f0_metrics", "pitch_track"]

_PITCH_MAX_RATE = 16000
_F0_MIN, _F0_MAX = 50.0, 800.0


class PitchTrack(NamedTuple):
    """pyin output for one signal, 10 ms frames.

    Attributes:
        f0: ``(frames,)`` Hz, NaN where unvoiced.
        voiced: ``(frames,)`` bool voicing decisions.
        voiced_prob: ``(frames,)`` voicing probability in ``[0, 1]`` (periodicity).
    """

    f0: np.ndarray
    voiced: np.ndarray
    voiced_prob: np.ndarray


def pitch_track(
    wave: Wave, sample_rate: int, *, fmin: float = _F0_MIN, fmax: float = _F0_MAX
) -> PitchTrack:
    """F0, voicing and periodicity with ``librosa.pyin`` every 10 ms.

    Signals above 16 kHz are resampled to 16 kHz first (speech F0 and its first harmonics lie
    far below 8 kHz; this halves the cost at 22.05-48 kHz). The pyin frame is the power of two
    of at least 60 ms (1024 samples at 16 kHz), long enough for ``fmin`` down to 32 Hz.

    Args:
        wave: ``(T,)`` samples.
        sample_rate: Rate in Hz.
        fmin: Lowest F0 searched, Hz.
        fmax: Highest F0 searched, Hz (below the Nyquist frequency).

    Returns:
        The :class:`PitchTrack`.
    """
    sr = check_rate(sample_rate)
    signal = as_wave(wave)
    rate = min(sr, _PITCH_MAX_RATE)
    signal = resample_array(signal, sr, rate)
    frame_length = 1 << (int(math.ceil(0.06 * rate)) - 1).bit_length()
    if fmax >= rate / 2:
        raise MetricInputError(f"fmax {fmax} Hz must be below half the sample rate ({rate / 2} Hz)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f0, voiced, prob = librosa.pyin(
            signal, fmin=fmin, fmax=fmax, sr=rate, frame_length=frame_length,
            hop_length=rate // 100, center=True,
        )
    return PitchTrack(f0=f0, voiced=voiced.astype(bool), voiced_prob=np.nan_to_num(prob))


def f0_metrics(reference: PitchTrack, estimate: PitchTrack) -> dict[str, float]:
    """F0 RMSE (cents), V/UV error (%) and periodicity RMSE of two pitch tracks.

    Args:
        reference: Track of the reference.
        estimate: Track of the estimate (frames beyond the shorter track are ignored).

    Returns:
        ``{"f0_rmse_cents", "vuv_error_pct", "periodicity_rmse"}``; the F0 RMSE is NaN when
        no frame is voiced in both.
    """
    frames = min(len(reference.f0), len(estimate.f0))
    if frames == 0:
        return {"f0_rmse_cents": math.nan, "vuv_error_pct": math.nan, "periodicity_rmse": math.nan}
    ref_v, est_v = reference.voiced[:frames], estimate.voiced[:frames]
    both = ref_v & est_v & np.isfinite(reference.f0[:frames]) & np.isfinite(estimate.f0[:frames])
    if both.any():
        cents = 1200.0 * np.log2(estimate.f0[:frames][both] / reference.f0[:frames][both])
        rmse = float(np.sqrt(np.mean(cents**2)))
    else:
        rmse = math.nan
    vuv = float(100.0 * np.mean(ref_v != est_v))
    periodicity = float(
        np.sqrt(np.mean((reference.voiced_prob[:frames] - estimate.voiced_prob[:frames]) ** 2))
    )
    return {"f0_rmse_cents": rmse, "vuv_error_pct": vuv, "periodicity_rmse": periodicity}
