"""Mel-cepstral distortion (MCD), with and without dynamic time warping.

``(10 / ln 10) * mean_t sqrt( 2 sum_{d=1}^{D} (c_d[t] - c'_d[t])^2 )`` with D = 13 or 24
mel-cepstral coefficients (c_0, the energy, excluded); see :func:`mel_cepstrum` for the analysis
(25 ms Hann frames every 5 ms, all-pass frequency warping with :func:`warping_alpha`). Frames
where *both* signals are below ``-60 dBFS`` RMS are skipped. With DTW each signal's silent
frames are dropped, then the frames are paired along the minimum-cost path of
:func:`audiogan.evaluation.dtw.banded_dtw` (steps (1,1), (1,0), (0,1)) and the distance averaged
along it.

The DTW band: the longer signal's frames may pair with the other's within ``w`` frames of the
straight line from the first to the last frame pair, ``w = min(max(200, 10 % of the longer),
1000)`` frames, i.e. at least ±1 s, at most ±5 s of 5 ms frames; clips up to 1 s are aligned
without any constraint. Memory is one byte per band cell (24 MB for a 60 s clip) instead of the
``N x M x D`` array of a full cost matrix (14 GiB at 60 s).

Re-exported by :mod:`audiogan.evaluation.metrics`, which documents every metric key.
"""

from __future__ import annotations

import math

import librosa
import numpy as np

from audiogan.evaluation.dtw import banded_dtw
from audiogan.evaluation.metric_inputs import (
    MetricInputError,
    Wave,
    as_wave,
    check_rate,
    pair,
    stft_magnitude,
)

__all__ = [
    "SILENCE_DBFS",
    "cepstral_distortion",
    "frame_dbfs",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "warping_alpha",
]

SILENCE_DBFS = -60.0
"""Frames below this RMS level (dBFS) take no part in the MCD."""

_POWER_FLOOR = 1e-10
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


def warping_alpha(sample_rate: int) -> float:
    """All-pass warping constant whose frequency warping best follows the mel scale.

    The first-order all-pass ``(z^-1 - a) / (1 - a z^-1)`` maps a frequency ``w`` (radians) to
    ``w + 2 atan(a sin w / (1 - a cos w))``. This returns the ``a`` (to 0.001) minimising the
    squared difference between that map, normalised to ``[0, 1]``, and the mel scale in
    Fant's form (``ln(1 + f / 1000)``) normalised over 0 to sr/2. It reproduces the customary
    values: 0.312 at 8 kHz, 0.41 at 16 kHz, 0.455 at 22.05 kHz, 0.466 at 24 kHz, 0.544 at
    44.1 kHz and 0.554 at 48 kHz.

    Args:
        sample_rate: Rate in Hz.

    Returns:
        The warping constant in ``[0, 1)``.
    """
    sr = check_rate(sample_rate)
    omega = np.linspace(0.0, math.pi, 512)
    mel = np.log1p((omega / math.pi) * (sr / 2) / 1000.0)
    mel /= mel[-1]
    alphas = np.arange(0.0, 0.999, 0.001)[:, None]
    warped = _warp(omega[None, :], alphas) / math.pi
    best = int(np.argmin(np.sum((warped - mel[None, :]) ** 2, axis=1)))
    return round(float(alphas[best, 0]), 3)


def _warp(omega: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Frequency map of the first-order all-pass with constant ``alpha`` (radians)."""
    return omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))


def _frame_size(sample_rate: int) -> tuple[int, int, int]:
    """``(n_fft, win, hop)`` for cepstral analysis: 25 ms Hann frames every 5 ms."""
    win = max(16, int(round(0.025 * sample_rate)))
    n_fft = 1 << (win - 1).bit_length()
    hop = max(1, int(round(0.005 * sample_rate)))
    return n_fft, win, hop


def mel_cepstrum(
    wave: Wave, sample_rate: int, *, order: int = 24, alpha: float | None = None
) -> np.ndarray:
    """Mel-cepstral coefficients ``c_0 .. c_order`` of every frame.

    Analysis: 25 ms Hann frames every 5 ms (centred), ``ln |X|`` (power floored at 1e-10),
    resampled with linear interpolation onto a grid uniform in *warped* frequency
    ``w~ = warp(w, alpha)`` (inverse map ``warp(., -alpha)``), then the cepstrum of that warped
    log spectrum. Coefficients use the minimum-phase convention ``ln |H| = c_0 + sum_{m>=1}
    c_m cos(m w~)`` (SPTK's), i.e. ``c_m`` (m >= 1) is twice the real cepstrum, so the usual
    MCD formula applies.

    Args:
        wave: ``(T,)`` samples.
        sample_rate: Rate in Hz.
        order: Highest coefficient index.
        alpha: All-pass constant; None: :func:`warping_alpha` of the rate.

    Returns:
        ``(frames, order + 1)`` float64.
    """
    sr = check_rate(sample_rate)
    signal = as_wave(wave)
    if order < 1:
        raise MetricInputError(f"order must be >= 1, got {order}")
    a = warping_alpha(sr) if alpha is None else float(alpha)
    if not -1.0 < a < 1.0:
        raise MetricInputError(f"alpha must be in (-1, 1), got {alpha}")
    n_fft, win, hop = _frame_size(sr)
    power = stft_magnitude(signal, n_fft, hop, win) ** 2  # (K, frames)
    log_amplitude = 0.5 * np.log(power + _POWER_FLOOR)
    bins = power.shape[0]
    warped_grid = np.linspace(0.0, math.pi, bins)
    source = _warp(warped_grid, -a) / math.pi * (bins - 1)  # fractional linear bins
    low = np.clip(np.floor(source).astype(int), 0, bins - 2)
    frac = (source - low)[:, None]
    resampled = log_amplitude[low] * (1.0 - frac) + log_amplitude[low + 1] * frac
    cepstrum = np.fft.irfft(resampled, n=2 * (bins - 1), axis=0)[: order + 1].T
    cepstrum[:, 1:] *= 2.0
    return cepstrum


def frame_dbfs(wave: np.ndarray, sample_rate: int, frames: int) -> np.ndarray:
    """RMS level in dBFS of the cepstral analysis frames of ``(T,)`` ``wave``: ``(frames,)``."""
    n_fft, win, hop = _frame_size(sample_rate)
    padded = np.pad(wave, n_fft // 2, mode="reflect" if wave.size > n_fft // 2 else "constant")
    framed = librosa.util.frame(padded, frame_length=n_fft, hop_length=hop)[:, :frames]
    rms = np.sqrt(np.mean(framed**2, axis=0) + 1e-20)
    return 20.0 * np.log10(rms)


def _cepstral_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame ``(10/ln10) sqrt(2 sum_d (a_d - b_d)^2)`` of ``(frames, D)`` arrays."""
    return _MCD_SCALE * np.sqrt(np.sum((a - b) ** 2, axis=-1))


def cepstral_distortion(
    ref_cep: np.ndarray,
    ref_db: np.ndarray,
    est_cep: np.ndarray,
    est_db: np.ndarray,
    n_coefficients: int,
    dtw: bool,
    silence_dbfs: float | None,
) -> float:
    """MCD in dB of two mel cepstra (the core of :func:`mel_cepstral_distortion`).

    Args:
        ref_cep: ``(N, >= D + 1)`` reference cepstrum (:func:`mel_cepstrum`).
        ref_db: ``(N,)`` frame levels of the reference (:func:`frame_dbfs`).
        est_cep: ``(M, >= D + 1)`` estimate cepstrum.
        est_db: ``(M,)`` frame levels of the estimate.
        n_coefficients: D (c_1 .. c_D are compared).
        dtw: Pair the frames by :func:`audiogan.evaluation.dtw.banded_dtw` instead of in order.
        silence_dbfs: Level below which frames are skipped; None keeps every frame.

    Returns:
        MCD in dB; NaN when no frame is left.
    """
    ref_c = ref_cep[:, 1 : n_coefficients + 1]
    est_c = est_cep[:, 1 : n_coefficients + 1]
    if not dtw:
        frames = min(len(ref_c), len(est_c))
        ref_c, est_c = ref_c[:frames], est_c[:frames]
        if silence_dbfs is not None:
            keep = (ref_db[:frames] >= silence_dbfs) | (est_db[:frames] >= silence_dbfs)
            ref_c, est_c = ref_c[keep], est_c[keep]
        if len(ref_c) == 0:
            return math.nan
        return float(np.mean(_cepstral_distance(ref_c, est_c)))
    if silence_dbfs is not None:
        ref_c = ref_c[ref_db >= silence_dbfs]
        est_c = est_c[est_db >= silence_dbfs]
    if len(ref_c) == 0 or len(est_c) == 0:
        return math.nan
    return _MCD_SCALE * banded_dtw(ref_c, est_c).mean_cost


def mel_cepstral_distortion(
    reference: Wave,
    estimate: Wave,
    sample_rate: int,
    *,
    n_coefficients: int = 13,
    dtw: bool = False,
    alpha: float | None = None,
    silence_dbfs: float | None = SILENCE_DBFS,
) -> float:
    """Mel-cepstral distortion in dB (see the module docstring; symmetric in its arguments).

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples at the same rate.
        sample_rate: Rate in Hz.
        n_coefficients: D, the number of coefficients compared (c_1 .. c_D), usually 13 or 24.
        dtw: Align the frames by dynamic time warping (for signals that are not
            sample-aligned, e.g. TTS output against a recording) instead of pairing them in
            order.
        alpha: All-pass constant; None: :func:`warping_alpha`.
        silence_dbfs: Skip frames below this RMS level (in both signals without DTW, in each
            with DTW); None keeps every frame.

    Returns:
        MCD in dB; 0 for identical signals; NaN when every frame is silent.
    """
    sr = check_rate(sample_rate)
    if dtw:
        ref, est = as_wave(reference, "reference"), as_wave(estimate, "estimate")
    else:
        ref, est = pair(reference, estimate)
    ref_cep = mel_cepstrum(ref, sr, order=n_coefficients, alpha=alpha)
    est_cep = mel_cepstrum(est, sr, order=n_coefficients, alpha=alpha)
    return cepstral_distortion(
        ref_cep, frame_dbfs(ref, sr, len(ref_cep)), est_cep, frame_dbfs(est, sr, len(est_cep)),
        n_coefficients, dtw, silence_dbfs,
    )

