"""Objective metrics for vocoders (reference vs. estimate) and for waveform GANs (embeddings).

Every metric takes 1-D waveforms at one sample rate (numpy arrays or tensors, any float dtype;
computed in float64). When the two lengths differ (a vocoder returns ``frames * hop`` samples,
up to ``hop - 1`` fewer than its input) both are cut to the shorter one, from the start.

Intrusive metrics (:data:`METRICS` documents each key; ``↓`` lower is better, ``↑`` higher):

``log_mel_l1_db`` (dB, ↓) — log-mel distance
    ``mean_{m,t} |20 log10 max(M_ref[m,t], 1e-5) - 20 log10 max(M_est[m,t], 1e-5)|`` where ``M``
    is the mel *magnitude* spectrogram of :class:`audiogan.features.mel.MelSpectrogram`
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
    The path is searched in a band (:mod:`audiogan.evaluation.dtw`): within ``w`` frames of the
    straight
    line from the first to the last frame pair, ``w = min(max(200, 10 % of the longer
    signal's frames), 1000)``: at least ±1 s, at most ±5 s; memory grows with the clip length
    times the band, not with its square (clips up to 1 s are aligned without constraint).
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

Non-intrusive, for unconditional models (see :mod:`audiogan.evaluation.classifier`):
:func:`inception_score` and :func:`frechet_distance`.

The code lives in :mod:`audiogan.evaluation.mcd` (mel cepstrum, MCD),
:mod:`audiogan.evaluation.dtw` (banded DTW),
:mod:`audiogan.evaluation.pitch` (pyin tracks), :mod:`audiogan.evaluation.gan_scores` and
:mod:`audiogan.evaluation.metric_inputs` (input checks: bad input raises
:class:`MetricInputError`); this
module re-exports their public names. :func:`summarize` never lets a NaN or Inf value into a
mean.
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from audiogan.evaluation.gan_scores import frechet_distance, inception_score
from audiogan.evaluation.mcd import (
    SILENCE_DBFS,
    cepstral_distortion,
    frame_dbfs,
    mel_cepstral_distortion,
    mel_cepstrum,
    warping_alpha,
)
from audiogan.evaluation.metric_inputs import (
    MetricInputError,
    Wave,
    as_wave,
    check_rate,
    pair,
    resample_array,
    stft_magnitude,
)
from audiogan.evaluation.pitch import PitchTrack, f0_metrics, pitch_track
from audiogan.features.mel import MelSpectrogram

__all__ = [
    "INTRUSIVE_METRICS",
    "METRICS",
    "OPTIONAL_METRICS",
    "Analysis",
    "MetricInfo",
    "MetricInputError",
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
        "MCD-13 DTW", "dB", "lower",
        "mel-cepstral distortion, 13 coefficients, DTW-aligned (band ±1-5 s)",
    ),
    "mcd24_dtw_db": MetricInfo(
        "MCD-24 DTW", "dB", "lower",
        "mel-cepstral distortion, 24 coefficients, DTW-aligned (band ±1-5 s)",
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
    ref, est = pair(reference, estimate)
    rate = check_rate(sample_rate)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at low rates
        mel = MelSpectrogram(
            "hifigan", sample_rate=rate, n_fft=n_fft, hop_length=hop_length,
            win_length=n_fft, n_mels=n_mels, f_min=0.0, f_max=None,
        )
        both = mel(torch.from_numpy(np.stack([ref, est])))  # ln(max(M, 1e-5)), float64
    if both.shape[-1] == 0:
        raise MetricInputError(
            f"signals of {ref.size} samples are shorter than one hop ({hop_length})"
        )
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
    ref, est = pair(reference, estimate)
    total = 0.0
    for n_fft, hop, win in resolutions:
        s_ref = np.maximum(stft_magnitude(ref, n_fft, hop, win), _MRSTFT_FLOOR)
        s_est = np.maximum(stft_magnitude(est, n_fft, hop, win), _MRSTFT_FLOOR)
        # float64 throughout (as_wave), so float() keeps every bit
        convergence = (float(np.linalg.norm(s_ref - s_est))
                       / max(float(np.linalg.norm(s_ref)), 1e-12))
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
    ref, est = pair(reference, estimate)
    p_ref = stft_magnitude(ref, n_fft, hop_length, n_fft) ** 2 + _LSD_FLOOR
    p_est = stft_magnitude(est, n_fft, hop_length, n_fft) ** 2 + _LSD_FLOOR
    diff = 10.0 * np.log10(p_ref / p_est)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


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
    pesq = _optional_package("pesq", "PESQ").pesq
    sr = check_rate(sample_rate)
    ref, est = pair(reference, estimate)
    ref16, est16 = resample_array(ref, sr, 16000), resample_array(est, sr, 16000)
    try:
        return float(pesq(16000, ref16, est16, "wb"))
    except Exception as exc:  # the pesq package raises its own types (NoUtterancesError, ...)
        logger.warning("PESQ failed (%s: %s); recorded as NaN", type(exc).__name__, exc)
        return math.nan


def stoi(reference: Wave, estimate: Wave, sample_rate: int) -> float:
    """STOI (Taal et al., 2011) via ``pystoi`` (which resamples to 10 kHz itself).

    Args:
        reference, estimate, sample_rate: as for :func:`pesq_wb`.

    Returns:
        Intelligibility in ``[0, 1]`` (about 1 for identical signals).

    Raises:
        ImportError: ``pystoi`` is not installed (message says how to install it).
    """
    pystoi = _optional_package("pystoi", "STOI")
    sr = check_rate(sample_rate)
    ref, est = pair(reference, estimate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pystoi.stoi(ref, est, sr, extended=False))


def _optional_package(module: str, metric: str) -> Any:
    """Import an optional metric package, or ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{metric} needs the package {module!r}; {_EVAL_HINT}") from exc


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
    sr = check_rate(sample_rate)
    signal = as_wave(wave)
    cepstrum = mel_cepstrum(signal, sr, order=24)
    return Analysis(
        wave=signal,
        sample_rate=sr,
        cepstrum=cepstrum,
        frame_dbfs=frame_dbfs(signal, sr, len(cepstrum)),
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
        raise MetricInputError(
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
            values[key] = cepstral_distortion(
                reference.cepstrum, reference.frame_dbfs, estimate.cepstrum,
                estimate.frame_dbfs, coefficients, dtw, SILENCE_DBFS,
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
