"""Objective metrics for vocoders (reference vs. estimate) and for waveform GANs (embeddings).

Every metric takes 1-D waveforms at one sample rate (numpy arrays or tensors, any float dtype;
computed in float64). When the two lengths differ (a vocoder returns ``frames * hop`` samples,
up to ``hop - 1`` fewer than its input) both are cut to the shorter one, from the start.

Intrusive metrics (:data:`METRICS` documents each key; ``↓`` lower is better, ``↑`` higher):

``log_mel_l1_db`` (dB, ↓) — log-mel distance
    ``mean_{m,t} |20 log10 max(M_ref[m,t], 1e-5) - 20 log10 max(M_est[m,t], 1e-5)|`` where ``M``
    is the mel *magnitude* spectrogram of :class:`audiogan.features.MelSpectrogram`
    (``hifigan`` profile conventions: n_fft 1024, hop 256, win 1024, 80 mels, 0 Hz to sr/2).
``mrstft`` (unitless, ↓) — multi-resolution STFT distance
    ``(1/R) sum_r [ ||S_ref - S_est||_F / ||S_ref||_F + mean |ln S_ref - ln S_est| ]`` over the
    resolutions (n_fft, hop, win) = (512, 50, 240), (1024, 120, 600), (2048, 240, 1200), with
    ``S = max(|STFT|, 1e-7)`` (Hann window, centred frames). The first term is the spectral
    convergence, the second the log-magnitude L1 (as in Parallel WaveGAN's training loss).
``lsd_db`` (dB, ↓) — log-spectral distance
    ``mean_t sqrt( mean_f (10 log10 P_ref[f,t] - 10 log10 P_est[f,t])^2 )`` with
    ``P = |STFT|^2 + 1e-10`` (n_fft 2048, hop 512, Hann, centred).
``mcd13_db``, ``mcd24_db`` (dB, ↓) — mel-cepstral distortion without alignment, and
``mcd13_dtw_db``, ``mcd24_dtw_db`` with dynamic time warping
    ``(10 / ln 10) * mean_t sqrt( 2 sum_{d=1}^{D} (c_d[t] - c'_d[t])^2 )`` with D = 13 or 24
    mel-cepstral coefficients (c_0, the energy, excluded). See :func:`mel_cepstrum` for the
    analysis (25 ms Hann frames every 5 ms, all-pass frequency warping with
    :func:`warping_alpha`). Frames where *both* signals are below ``-60 dBFS`` RMS are
    skipped. With DTW, each signal's silent frames are dropped, then the frames are paired
    along the minimum-cost path (steps (1,1), (1,0), (0,1)) and the distance averaged along it.
    The values follow the usual MCD convention but the analysis is a warped-FFT cepstrum, not
    SPTK's iterative ``mcep``: compare numbers from the same implementation.
``f0_rmse_cents`` (cents, ↓) — F0 error
    ``sqrt( mean_t (1200 log2(f0_est[t] / f0_ref[t]))^2 )`` over frames voiced in both, with
    F0 from ``librosa.pyin`` (50-800 Hz, 10 ms hop; signals above 16 kHz are resampled to
    16 kHz first). A one-semitone pitch shift gives 100 cents. NaN when no frame is voiced
    in both.
``vuv_error_pct`` (%, ↓) — voiced/unvoiced error
    ``100 * mean_t [voiced_ref[t] != voiced_est[t]]`` with pyin's voicing decisions.
``periodicity_rmse`` (unitless, 0-1, ↓) — periodicity error
    ``sqrt( mean_t (p_ref[t] - p_est[t])^2 )`` over all frames, where ``p`` is pyin's voicing
    probability (how periodic a frame is), after CARGAN's periodicity error.
``pesq_wb`` (MOS-LQO, 1.04-4.64, ↑) — wide-band PESQ (ITU-T P.862.2) at 16 kHz; both signals
    are resampled to 16 kHz. Needs the optional ``pesq`` package (``pip install
    'audiogan[eval]'``); NaN when PESQ finds no utterance.
``stoi`` (0-1, ↑) — short-time objective intelligibility (Taal et al., 2011), via the optional
    ``pystoi`` package.

Non-intrusive, for unconditional models (see :mod:`audiogan.classifier`):
:func:`inception_score` and :func:`frechet_distance`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import librosa
import numpy as np
import torch
from torch import Tensor

from audiogan.audio import resample
from audiogan.features import MelSpectrogram

__all__ = [
    "INTRUSIVE_METRICS",
    "METRICS",
    "OPTIONAL_METRICS",
    "Analysis",
    "MetricInfo",
    "PitchTrack",
    "analyze",
    "compare",
    "evaluate_pair",
    "f0_metrics",
    "frechet_distance",
    "inception_score",
    "log_mel_distance",
    "log_spectral_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "multi_resolution_stft_distance",
    "optional_metrics_status",
    "pesq_wb",
    "pitch_track",
    "stoi",
    "summarize",
    "warping_alpha",
]

logger = logging.getLogger(__name__)

Wave = np.ndarray | Tensor


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric key.

    Attributes:
        label: Short column heading.
        unit: Unit (``""`` when unitless).
        better: ``"lower"`` or ``"higher"``.
        description: One-line definition.
    """

    label: str
    unit: str
    better: Literal["lower", "higher"]
    description: str


METRICS: dict[str, MetricInfo] = {
    "log_mel_l1_db": MetricInfo(
        "log-mel L1", "dB", "lower", "mean |difference| of 80-band log-mel magnitudes"
    ),
    "mrstft": MetricInfo(
        "MR-STFT", "", "lower", "spectral convergence + log-magnitude L1, 3 resolutions"
    ),
    "lsd_db": MetricInfo("LSD", "dB", "lower", "log-spectral distance (RMS over frequency)"),
    "mcd13_db": MetricInfo("MCD-13", "dB", "lower", "mel-cepstral distortion, 13 coefficients"),
    "mcd24_db": MetricInfo("MCD-24", "dB", "lower", "mel-cepstral distortion, 24 coefficients"),
    "mcd13_dtw_db": MetricInfo(
        "MCD-13 DTW", "dB", "lower", "mel-cepstral distortion, 13 coefficients, DTW-aligned"
    ),
    "mcd24_dtw_db": MetricInfo(
        "MCD-24 DTW", "dB", "lower", "mel-cepstral distortion, 24 coefficients, DTW-aligned"
    ),
    "f0_rmse_cents": MetricInfo(
        "F0 RMSE", "cents", "lower", "pitch error over frames voiced in both (pyin)"
    ),
    "vuv_error_pct": MetricInfo(
        "V/UV error", "%", "lower", "frames whose voicing decision differs (pyin)"
    ),
    "periodicity_rmse": MetricInfo(
        "periodicity", "", "lower", "RMS difference of pyin voicing probabilities"
    ),
    "pesq_wb": MetricInfo("PESQ-WB", "MOS", "higher", "wide-band PESQ at 16 kHz (optional)"),
    "stoi": MetricInfo("STOI", "", "higher", "short-time objective intelligibility (optional)"),
}
"""Every per-clip metric key, in report order."""

OPTIONAL_METRICS: tuple[str, ...] = ("pesq_wb", "stoi")
"""Keys that need the optional ``eval`` extra (packages ``pesq`` and ``pystoi``)."""

INTRUSIVE_METRICS: tuple[str, ...] = tuple(k for k in METRICS if k not in OPTIONAL_METRICS)
"""Keys that :func:`compare` always computes."""

_EVAL_HINT = "install the optional extra: pip install 'audiogan[eval]'"

_MRSTFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = (
    (512, 50, 240),
    (1024, 120, 600),
    (2048, 240, 1200),
)
_LOG_MEL_FLOOR = 1e-5
_MRSTFT_FLOOR = 1e-7
_LSD_FLOOR = 1e-10
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)
_PITCH_MAX_RATE = 16000
_F0_MIN, _F0_MAX = 50.0, 800.0
_SILENCE_DBFS = -60.0


# --------------------------------------------------------------------------- helpers


def _as_wave(wave: Wave, name: str = "wave") -> np.ndarray:
    """A 1-D float64 numpy copy of ``(T,)``, ``(1, T)`` or ``(1, 1, T)`` input."""
    if isinstance(wave, Tensor):
        array = wave.detach().to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(wave, dtype=np.float64)
    array = np.squeeze(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one waveform (T,), got shape {tuple(np.shape(wave))}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or Inf samples")
    return array


def _pair(reference: Wave, estimate: Wave) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_wave(reference, "reference")
    est = _as_wave(estimate, "estimate")
    length = min(ref.size, est.size)
    return ref[:length], est[:length]


def _check_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    return int(sample_rate)


def _stft_magnitude(wave: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """``|STFT|`` ``(n_fft // 2 + 1, frames)``: Hann(win) centred in n_fft, centred frames."""
    return np.abs(
        librosa.stft(wave, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                     center=True, pad_mode="reflect")
    )


def _resample(wave: np.ndarray, orig: int, target: int) -> np.ndarray:
    if orig == target:
        return wave
    return resample(torch.from_numpy(wave), orig, target).numpy()


# --------------------------------------------------------------------------- spectral


def log_mel_distance(
    reference: Wave,
    estimate: Wave,
    sample_rate: int,
    *,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
) -> float:
    """Log-mel L1 distance in dB (see the module docstring for the formula).

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples at the same rate.
        sample_rate: Rate in Hz.
        n_fft: FFT size (also the window length).
        hop_length: Frame shift in samples.
        n_mels: Mel bands from 0 Hz to ``sample_rate / 2``.

    Returns:
        Mean absolute log-mel magnitude difference in dB; 0 for identical signals.
    """
    ref, est = _pair(reference, estimate)
    mel = MelSpectrogram(
        "hifigan", sample_rate=_check_rate(sample_rate), n_fft=n_fft, hop_length=hop_length,
        win_length=n_fft, n_mels=n_mels, f_min=0.0, f_max=None,
    )
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at low rates
        both = mel(torch.from_numpy(np.stack([ref, est])))  # ln(max(M, 1e-5)), float64
    if both.shape[-1] == 0:
        raise ValueError(f"signals of {ref.size} samples are shorter than one hop ({hop_length})")
    to_db = 20.0 / math.log(10.0)
    return float((both[0] - both[1]).abs().mean() * to_db)


def multi_resolution_stft_distance(
    reference: Wave,
    estimate: Wave,
    *,
    resolutions: Sequence[tuple[int, int, int]] = _MRSTFT_RESOLUTIONS,
) -> float:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1, averaged.

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples.
        resolutions: ``(n_fft, hop, win)`` triples.

    Returns:
        ``(1/R) sum_r (SC_r + LM_r)`` (unitless); 0 for identical signals.
    """
    ref, est = _pair(reference, estimate)
    total = 0.0
    for n_fft, hop, win in resolutions:
        s_ref = np.maximum(_stft_magnitude(ref, n_fft, hop, win), _MRSTFT_FLOOR)
        s_est = np.maximum(_stft_magnitude(est, n_fft, hop, win), _MRSTFT_FLOOR)
        convergence = np.linalg.norm(s_ref - s_est) / max(np.linalg.norm(s_ref), 1e-12)
        log_l1 = np.mean(np.abs(np.log(s_ref) - np.log(s_est)))
        total += float(convergence + log_l1)
    return total / len(resolutions)


def log_spectral_distance(
    reference: Wave, estimate: Wave, *, n_fft: int = 2048, hop_length: int = 512
) -> float:
    """Log-spectral distance in dB: RMS over frequency of the dB difference, mean over frames.

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples.
        n_fft: FFT and window size.
        hop_length: Frame shift.

    Returns:
        LSD in dB; 0 for identical signals.
    """
    ref, est = _pair(reference, estimate)
    p_ref = _stft_magnitude(ref, n_fft, hop_length, n_fft) ** 2 + _LSD_FLOOR
    p_est = _stft_magnitude(est, n_fft, hop_length, n_fft) ** 2 + _LSD_FLOOR
    diff = 10.0 * np.log10(p_ref / p_est)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


# --------------------------------------------------------------------------- mel cepstrum


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
    sr = _check_rate(sample_rate)
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
    sr = _check_rate(sample_rate)
    signal = _as_wave(wave)
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    a = warping_alpha(sr) if alpha is None else float(alpha)
    if not -1.0 < a < 1.0:
        raise ValueError(f"alpha must be in (-1, 1), got {alpha}")
    n_fft, win, hop = _frame_size(sr)
    power = _stft_magnitude(signal, n_fft, hop, win) ** 2  # (K, frames)
    log_amplitude = 0.5 * np.log(power + _LSD_FLOOR)
    bins = power.shape[0]
    warped_grid = np.linspace(0.0, math.pi, bins)
    source = _warp(warped_grid, -a) / math.pi * (bins - 1)  # fractional linear bins
    low = np.clip(np.floor(source).astype(int), 0, bins - 2)
    frac = (source - low)[:, None]
    resampled = log_amplitude[low] * (1.0 - frac) + log_amplitude[low + 1] * frac
    cepstrum = np.fft.irfft(resampled, n=2 * (bins - 1), axis=0)[: order + 1].T
    cepstrum[:, 1:] *= 2.0
    return cepstrum


def _frame_dbfs(wave: np.ndarray, sample_rate: int, frames: int) -> np.ndarray:
    """RMS level in dBFS of the cepstral analysis frames (same framing, ``(frames,)``)."""
    n_fft, win, hop = _frame_size(sample_rate)
    padded = np.pad(wave, n_fft // 2, mode="reflect" if wave.size > n_fft // 2 else "constant")
    framed = librosa.util.frame(padded, frame_length=n_fft, hop_length=hop)[:, :frames]
    rms = np.sqrt(np.mean(framed**2, axis=0) + 1e-20)
    return 20.0 * np.log10(rms)


def _cepstral_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame ``(10/ln10) sqrt(2 sum_d (a_d - b_d)^2)`` of ``(frames, D)`` arrays."""
    return _MCD_SCALE * np.sqrt(np.sum((a - b) ** 2, axis=-1))


def _mcd(
    ref_cep: np.ndarray,
    ref_db: np.ndarray,
    est_cep: np.ndarray,
    est_db: np.ndarray,
    n_coefficients: int,
    dtw: bool,
    silence_dbfs: float | None,
) -> float:
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
    cost = _cepstral_distance(ref_c[:, None, :], est_c[None, :, :])
    _, path = librosa.sequence.dtw(C=cost, backtrack=True)
    return float(np.mean(cost[path[:, 0], path[:, 1]]))


def mel_cepstral_distortion(
    reference: Wave,
    estimate: Wave,
    sample_rate: int,
    *,
    n_coefficients: int = 13,
    dtw: bool = False,
    alpha: float | None = None,
    silence_dbfs: float | None = _SILENCE_DBFS,
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
    sr = _check_rate(sample_rate)
    if dtw:
        ref, est = _as_wave(reference, "reference"), _as_wave(estimate, "estimate")
    else:
        ref, est = _pair(reference, estimate)
    ref_cep = mel_cepstrum(ref, sr, order=n_coefficients, alpha=alpha)
    est_cep = mel_cepstrum(est, sr, order=n_coefficients, alpha=alpha)
    return _mcd(
        ref_cep, _frame_dbfs(ref, sr, len(ref_cep)), est_cep, _frame_dbfs(est, sr, len(est_cep)),
        n_coefficients, dtw, silence_dbfs,
    )


# --------------------------------------------------------------------------- pitch


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
    sr = _check_rate(sample_rate)
    signal = _as_wave(wave)
    rate = min(sr, _PITCH_MAX_RATE)
    signal = _resample(signal, sr, rate)
    frame_length = 1 << (int(math.ceil(0.06 * rate)) - 1).bit_length()
    if fmax >= rate / 2:
        raise ValueError(f"fmax {fmax} Hz must be below half the sample rate ({rate / 2} Hz)")
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


# --------------------------------------------------------------------------- optional


def optional_metrics_status() -> dict[str, str | None]:
    """Which optional metrics can run.

    Returns:
        ``{"pesq_wb": reason_or_None, "stoi": reason_or_None}``: None when available, else
        a one-line reason naming the missing package and how to install it.
    """
    status: dict[str, str | None] = {}
    for key, module in (("pesq_wb", "pesq"), ("stoi", "pystoi")):
        try:
            __import__(module)
        except ImportError:
            status[key] = f"{key} skipped: package {module!r} is not installed; {_EVAL_HINT}"
        else:
            status[key] = None
    return status


def pesq_wb(reference: Wave, estimate: Wave, sample_rate: int) -> float:
    """Wide-band PESQ (P.862.2) after resampling both signals to 16 kHz.

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples.
        sample_rate: Their rate in Hz.

    Returns:
        MOS-LQO in about ``[1.04, 4.64]``; NaN when PESQ finds no utterance or fails on the
        input (logged).

    Raises:
        ImportError: ``pesq`` is not installed (message says how to install it).
    """
    try:
        from pesq import pesq
    except ImportError as exc:
        raise ImportError(f"PESQ needs the package 'pesq'; {_EVAL_HINT}") from exc
    sr = _check_rate(sample_rate)
    ref, est = _pair(reference, estimate)
    ref16, est16 = _resample(ref, sr, 16000), _resample(est, sr, 16000)
    try:
        return float(pesq(16000, ref16, est16, "wb"))
    except Exception as exc:  # the pesq package raises its own types (NoUtterancesError, ...)
        logger.warning("PESQ failed (%s: %s); recorded as NaN", type(exc).__name__, exc)
        return math.nan


def stoi(reference: Wave, estimate: Wave, sample_rate: int) -> float:
    """STOI (Taal et al., 2011) via ``pystoi`` (which resamples to 10 kHz itself).

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples.
        sample_rate: Their rate in Hz.

    Returns:
        Intelligibility in ``[0, 1]`` (about 1 for identical signals).

    Raises:
        ImportError: ``pystoi`` is not installed (message says how to install it).
    """
    try:
        from pystoi import stoi as _stoi
    except ImportError as exc:
        raise ImportError(f"STOI needs the package 'pystoi'; {_EVAL_HINT}") from exc
    sr = _check_rate(sample_rate)
    ref, est = _pair(reference, estimate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_stoi(ref, est, sr, extended=False))


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class Analysis:
    """The per-signal analyses that :func:`compare` reuses (compute a reference's once).

    Attributes:
        wave: ``(T,)`` float64 samples.
        sample_rate: Rate in Hz.
        cepstrum: ``(frames, 25)`` mel cepstrum (:func:`mel_cepstrum`, order 24).
        frame_dbfs: ``(frames,)`` RMS level of the cepstral frames.
        pitch: :class:`PitchTrack`.
    """

    wave: np.ndarray
    sample_rate: int
    cepstrum: np.ndarray
    frame_dbfs: np.ndarray
    pitch: PitchTrack


def analyze(wave: Wave, sample_rate: int) -> Analysis:
    """Compute the reusable per-signal analyses (mel cepstrum, levels, pitch track).

    Args:
        wave: ``(T,)`` samples.
        sample_rate: Rate in Hz.

    Returns:
        The :class:`Analysis`.
    """
    sr = _check_rate(sample_rate)
    signal = _as_wave(wave)
    cepstrum = mel_cepstrum(signal, sr, order=24)
    return Analysis(
        wave=signal,
        sample_rate=sr,
        cepstrum=cepstrum,
        frame_dbfs=_frame_dbfs(signal, sr, len(cepstrum)),
        pitch=pitch_track(signal, sr),
    )


def compare(
    reference: Analysis, estimate: Analysis, *, optional: Iterable[str] = OPTIONAL_METRICS
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one reference/estimate pair.

    Args:
        reference: :func:`analyze` of the reference.
        estimate: :func:`analyze` of the estimate, at the same rate.
        optional: Optional metrics to try (those whose package is missing are left out).

    Returns:
        ``{key: value}`` in :data:`METRICS` order: every key of :data:`INTRUSIVE_METRICS`, plus
        the available optional ones. NaN marks a value that is undefined for this pair.
    """
    if reference.sample_rate != estimate.sample_rate:
        raise ValueError(
            f"sample rates differ: reference {reference.sample_rate} Hz, "
            f"estimate {estimate.sample_rate} Hz"
        )
    sr = reference.sample_rate
    ref, est = reference.wave, estimate.wave
    values: dict[str, float] = {
        "log_mel_l1_db": log_mel_distance(ref, est, sr),
        "mrstft": multi_resolution_stft_distance(ref, est),
        "lsd_db": log_spectral_distance(ref, est),
    }
    for coefficients in (13, 24):
        for dtw in (False, True):
            key = f"mcd{coefficients}{'_dtw' if dtw else ''}_db"
            values[key] = _mcd(
                reference.cepstrum, reference.frame_dbfs, estimate.cepstrum,
                estimate.frame_dbfs, coefficients, dtw, _SILENCE_DBFS,
            )
    values.update(f0_metrics(reference.pitch, estimate.pitch))
    status = optional_metrics_status()
    wanted = set(optional)
    if "pesq_wb" in wanted and status["pesq_wb"] is None:
        values["pesq_wb"] = pesq_wb(ref, est, sr)
    if "stoi" in wanted and status["stoi"] is None:
        values["stoi"] = stoi(ref, est, sr)
    return {key: values[key] for key in METRICS if key in values}


def evaluate_pair(reference: Wave, estimate: Wave, sample_rate: int) -> dict[str, float]:
    """:func:`compare` of two waveforms (convenience for one pair).

    Args:
        reference: ``(T,)`` samples.
        estimate: ``(T',)`` samples at the same rate.
        sample_rate: Rate in Hz.

    Returns:
        The metrics by key (see :func:`compare`).
    """
    return compare(analyze(reference, sample_rate), analyze(estimate, sample_rate))


def summarize(rows: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Statistics of per-clip metric rows: mean, std, median, min, max and count per key.

    NaN and missing values are left out (``count`` says how many clips took part); a key with
    no finite value gets None statistics.

    Args:
        rows: Per-clip ``{key: value}`` mappings.
        keys: Keys to summarise.

    Returns:
        ``{key: {"mean", "std", "median", "min", "max", "count"}}``.
    """
    materialised = list(rows)
    stats: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = np.array(
            [float(row[key]) for row in materialised if row.get(key) is not None],
            dtype=np.float64,
        )
        values = values[np.isfinite(values)]
        if values.size == 0:
            stats[key] = dict.fromkeys(("mean", "std", "median", "min", "max"), None)
            stats[key]["count"] = 0
            continue
        stats[key] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "median": float(np.median(values)),
            "min": float(values.min()),
            "max": float(values.max()),
            "count": int(values.size),
        }
    return stats


# --------------------------------------------------------------------------- GAN scores


def inception_score(probabilities: np.ndarray | Tensor, *, splits: int = 1) -> float:
    """Inception score ``exp( E_x KL(p(y|x) || p(y)) )`` of classifier outputs.

    ``p(y)`` is the mean of ``p(y|x)`` over the clips (of one split); with several splits the
    mean score over the splits is returned. It ranges from 1 (every clip gets the same
    distribution) to the number of classes (confident and evenly spread over the classes).

    Args:
        probabilities: ``(N, classes)`` rows of class probabilities (each summing to 1).
        splits: Number of equal parts to score separately (N >= splits).

    Returns:
        The score (unitless, ↑).
    """
    probs = (
        probabilities.detach().to("cpu", torch.float64).numpy()
        if isinstance(probabilities, Tensor)
        else np.asarray(probabilities, dtype=np.float64)
    )
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probabilities must be (N, classes) with N > 0, got {probs.shape}")
    if not 1 <= splits <= probs.shape[0]:
        raise ValueError(f"splits must be in [1, {probs.shape[0]}], got {splits}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(math.exp(float(terms.sum(axis=1).mean())))
    return float(np.mean(scores))


def frechet_distance(first: np.ndarray | Tensor, second: np.ndarray | Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings.

    ``||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` with the sample means and
    covariances; the trace of the matrix square root is computed as the sum of the square roots
    of the eigenvalues of ``S_1^(1/2) S_2 S_1^(1/2)`` (symmetric, so no complex round-off).
    Units are squared embedding units; small sets bias it upwards, so compare values from
    equal set sizes.

    Args:
        first: ``(N, D)`` embeddings, N >= 2.
        second: ``(M, D)`` embeddings, M >= 2.

    Returns:
        The distance (>= 0; 0 for identical sets).
    """
    a, b = (
        x.detach().to("cpu", torch.float64).numpy() if isinstance(x, Tensor)
        else np.asarray(x, dtype=np.float64)
        for x in (first, second)
    )
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be (N, D) with the same D, got {a.shape}, {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 embeddings per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigval, eigvec = np.linalg.eigh(cov_a)
    root_a = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T
    middle = root_a @ cov_b @ root_a
    eig_middle = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sum(np.sqrt(np.clip(eig_middle, 0.0, None))))
    mean_term = float(np.sum((mu_a - mu_b) ** 2))
    distance = mean_term + float(np.trace(cov_a) + np.trace(cov_b)) - 2.0 * trace_root
    return max(distance, 0.0)
