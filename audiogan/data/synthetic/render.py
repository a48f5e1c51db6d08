"""Rendering a segment plan to audio: the source-filter DSP of the synthetic corpus.

A plan is a list of :class:`_Segment` (pauses, vowels, nasals, approximants, fricatives, stop
closures, bursts, aspiration). :func:`_render` turns it into samples for a
:class:`SpeakerProfile`: a glottal pulse train on a continuous pitch contour, a time-varying
cascade of formant resonators, parallel band-shaped noise, a low cut and peak normalisation.
Planning (what to say) lives in :mod:`audiogan.data.synthetic.speech`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

__all__ = ["SpeakerProfile", "SyntheticUtterance"]

# Noise bands (Hz) of fricatives and stop bursts, and their levels relative to vowels.
_NOISE_BANDS: dict[str, tuple[float, float, float]] = {
    "s": (3800.0, 9500.0, 0.45),
    "sh": (1800.0, 5000.0, 0.5),
    "f": (900.0, 8000.0, 0.18),
    "burst_t": (2800.0, 9000.0, 0.6),
    "burst_k": (1400.0, 4200.0, 0.6),
    "burst_p": (400.0, 5000.0, 0.5),
}

_KIND_PAUSE, _KIND_VOWEL, _KIND_NASAL, _KIND_APPROX = 0, 1, 2, 3
_KIND_FRIC, _KIND_CLOSURE, _KIND_BURST, _KIND_ASPIRATION = 4, 5, 6, 7
_VOICED_KINDS = (_KIND_VOWEL, _KIND_NASAL, _KIND_APPROX)
_BLOCK_SECONDS = 0.003  # update interval of the time-varying resonators
_NOISE_FLOOR = 2e-4  # background noise, about -74 dBFS before peak normalisation


@dataclass(frozen=True)
class SpeakerProfile:
    """Voice parameters of one synthetic speaker.

    Attributes:
        f0: Typical pitch in Hz (80-250).
        formant_scale: Vocal-tract factor on all formants (1.0: adult male; ~1.15: female).
        breathiness: Aspiration noise relative to the glottal pulses.
        open_quotient: Fraction of the glottal period the glottis is open.
        rate: Speaking-rate factor (segment durations are divided by it).
    """

    f0: float
    formant_scale: float
    breathiness: float
    open_quotient: float
    rate: float


class SyntheticUtterance(NamedTuple):
    """An utterance and its ground truth."""

    wave: np.ndarray
    """``(T,)`` float32 in ``[-0.95, 0.95]``."""
    f0: np.ndarray
    """``(T,)`` float32 pitch in Hz where the sample is voiced, 0 elsewhere."""
    sample_rate: int


class _Segment(NamedTuple):
    kind: int
    seconds: float
    formants: tuple[float, float, float] | None = None  # male-scale targets (voiced kinds)
    noise: str | None = None  # noise band name (fricatives, bursts)
    level: float = 1.0  # amplitude target
    accent: float = 0.0  # pitch accent height as a fraction of f0 (vowels)


class _Prosody(NamedTuple):
    start: float  # pitch at a phrase start, as a fraction of the speaker's f0
    end: float  # pitch at a phrase end


# --------------------------------------------------------------------------- rendering


def _render(
    plan: list[_Segment],
    profile: SpeakerProfile,
    prosody: _Prosody,
    rng: np.random.Generator,
    sample_rate: int,
    num_samples: int,
    peak: float,
) -> SyntheticUtterance:
    """Render a plan to ``num_samples`` samples (the plan is cut or padded with silence)."""
    sr = float(sample_rate)
    durations = np.array([max(1, int(round(seg.seconds * sr))) for seg in plan], dtype=np.int64)
    ends = np.cumsum(durations)
    keep = int(np.searchsorted(ends, num_samples, side="left")) + 1
    plan, durations = plan[:keep], durations[:keep]
    if durations.sum() < num_samples:
        plan = [*plan, _Segment(_KIND_PAUSE, 0.0)]
        durations = np.append(durations, num_samples - durations.sum())
    starts = np.concatenate([[0], np.cumsum(durations)[:-1]])
    seg_of = np.repeat(np.arange(len(plan)), durations)[:num_samples]
    kinds = np.array([seg.kind for seg in plan])
    t = np.arange(num_samples, dtype=np.float64)

    # ---- amplitude envelopes (step targets, smoothed)
    voiced_level = np.array(
        [
            seg.level if (seg.kind in _VOICED_KINDS or seg.formants is not None) else 0.0
            for seg in plan
        ]
    )
    voicing = _smooth(voiced_level[seg_of], int(0.018 * sr))
    aspiration_level = np.array(
        [seg.level if seg.kind == _KIND_ASPIRATION else 0.0 for seg in plan]
    )
    aspiration = _smooth(aspiration_level[seg_of], int(0.008 * sr))

    # ---- formant tracks: hold each target over the middle of its segment, glide between
    times, targets = [], []
    for seg, start, length in zip(plan, starts, durations, strict=True):
        if seg.formants is None:
            continue
        for fraction in (0.3, 0.7):
            times.append(start + fraction * length)
            targets.append(seg.formants)
    if not times:  # no voiced segment: a neutral tract for the aspiration noise
        times, targets = [0.0], [(500.0, 1500.0, 2500.0)]
    track_times = np.asarray(times)
    track_targets = np.asarray(targets) * profile.formant_scale
    nyquist_guard = 0.45 * sr

    # ---- pitch: declination per phrase, accents, wander, jitter
    f0 = _pitch_contour(plan, starts, durations, kinds, profile, prosody, rng, t, sr)
    phase0 = np.cumsum(f0 / sr)
    periods = int(phase0[-1]) + 2
    jitter = 1.0 + 0.006 * rng.standard_normal(periods)
    f0 = f0 * jitter[phase0.astype(np.int64)]
    phase = np.cumsum(f0 / sr)
    period_index = phase.astype(np.int64)
    shimmer = 1.0 + 0.05 * rng.standard_normal(periods + 1)

    # ---- glottal source: Rosenberg-type flow derivative, unit negative peak
    within = phase - period_index
    oq = profile.open_quotient
    opening, closing = 0.65 * oq, 0.35 * oq
    flow = np.zeros(num_samples)
    derivative = np.zeros(num_samples)
    rising_part = within < opening
    falling_part = (within >= opening) & (within < opening + closing)
    flow[rising_part] = 0.5 * (1.0 - np.cos(np.pi * within[rising_part] / opening))
    derivative[rising_part] = np.pi / (2 * opening) * np.sin(np.pi * within[rising_part] / opening)
    fall = (within[falling_part] - opening) / closing
    flow[falling_part] = np.cos(0.5 * np.pi * fall)
    derivative[falling_part] = -np.pi / (2 * closing) * np.sin(0.5 * np.pi * fall)
    derivative *= shimmer[period_index] / (np.pi / (2 * closing))

    noise = rng.standard_normal(num_samples)
    breath = profile.breathiness * noise * (0.3 + 0.7 * flow)
    excitation = voicing * (derivative + breath) + aspiration * 0.5 * rng.standard_normal(
        num_samples
    )

    # ---- vocal tract: time-varying F1-F3 cascade, fixed F4, F5
    block = max(16, int(_BLOCK_SECONDS * sr))
    centres = np.minimum(np.arange(0, num_samples, block) + block // 2, num_samples - 1)
    formants = np.stack([np.interp(centres, track_times, track_targets[:, k]) for k in range(3)])
    formants = np.minimum(formants, nyquist_guard)
    nasal_weight = np.interp(centres, t, (kinds[seg_of] == _KIND_NASAL).astype(np.float64))
    widths = np.array([[70.0], [95.0], [140.0]]) * (0.9 + 0.2 * profile.formant_scale)
    widths = widths + np.array([[80.0], [40.0], [0.0]]) * nasal_weight  # damped nasal murmur
    voiced_out = _time_varying_cascade(excitation, formants, widths, sr, block)
    for frequency, width in ((3500.0, 200.0), (4500.0, 250.0)):
        frequency *= profile.formant_scale
        if frequency < nyquist_guard:
            voiced_out = _resonate(voiced_out, frequency, width, sr)
    voiced_rms = np.sqrt(np.mean(voiced_out[voicing > 0.5] ** 2)) if (voicing > 0.5).any() else 0.0
    if voiced_rms > 0:
        voiced_out = voiced_out * (0.2 / voiced_rms)

    # ---- parallel noise branch: fricatives and bursts
    out = voiced_out
    for band in sorted({seg.noise for seg in plan if seg.noise is not None}):
        low, high, _ = _NOISE_BANDS[band]
        level = np.array([seg.level if seg.noise == band else 0.0 for seg in plan])
        envelope = _smooth(level[seg_of], int(0.006 * sr))
        shaped = _band_noise(rng, num_samples, low, high, sr)
        out = out + 0.12 * envelope * shaped
    out = out + _NOISE_FLOOR * rng.standard_normal(num_samples)

    # ---- clean-up: low cut, peak level
    out = signal.sosfilt(_low_cut(sr), out)
    out *= peak / max(float(np.abs(out).max()), 1e-9)
    wave = np.clip(out, -0.95, 0.95).astype(np.float32)
    truth = np.where(voicing > 0.25, f0, 0.0).astype(np.float32)
    return SyntheticUtterance(wave, truth, int(sample_rate))


def _pitch_contour(
    plan: list[_Segment],
    starts: np.ndarray,
    durations: np.ndarray,
    kinds: np.ndarray,
    profile: SpeakerProfile,
    prosody: _Prosody,
    rng: np.random.Generator,
    t: np.ndarray,
    sr: float,
) -> np.ndarray:
    """``(T,)`` pitch in Hz: declination reset after each long pause, accents, wander."""
    num_samples = t.size
    # phrases: split at pauses longer than 60 ms
    breaks = [0]
    for index, (kind, start, length) in enumerate(zip(kinds, starts, durations, strict=True)):
        if kind == _KIND_PAUSE and length > 0.06 * sr and 0 < index < len(plan) - 1:
            breaks.append(int(start + length))
    breaks.append(num_samples)
    line = np.empty(num_samples)
    for begin, end in zip(breaks[:-1], breaks[1:], strict=False):
        if end <= begin:
            continue
        position = (t[begin:end] - begin) / max(1.0, end - begin)
        line[begin:end] = prosody.start + (prosody.end - prosody.start) * position
    contour = line * profile.f0
    for seg, start, length in zip(plan, starts, durations, strict=True):
        if seg.accent <= 0.0:
            continue
        centre, width = start + 0.5 * length, max(0.6 * length, 0.03 * sr)
        lo, hi = int(max(0, centre - 3 * width)), int(min(num_samples, centre + 3 * width))
        contour[lo:hi] += (
            seg.accent * profile.f0 * np.exp(-0.5 * ((t[lo:hi] - centre) / width) ** 2)
        )
    knots = np.arange(0, num_samples + int(0.05 * sr), int(0.05 * sr))
    wander = np.interp(t, knots, 0.02 * rng.standard_normal(knots.size))
    return np.clip(contour * (1.0 + wander), 60.0, 450.0)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Triangular moving average of ``(T,)`` values over about ``width`` samples (same length)."""
    half = width // 2
    if half < 2:
        return values
    once = ndimage.uniform_filter1d(values, half, mode="nearest")
    return ndimage.uniform_filter1d(once, half, mode="nearest")


def _resonator_coefficients(
    frequency: np.ndarray, bandwidth: np.ndarray, sr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Klatt resonator ``y[n] = a x[n] + b y[n-1] + c y[n-2]`` with unity gain at DC."""
    radius = np.exp(-np.pi * bandwidth / sr)
    c = -(radius**2)
    b = 2.0 * radius * np.cos(2.0 * np.pi * frequency / sr)
    return 1.0 - b - c, b, c


def _resonate(x: np.ndarray, frequency: float, bandwidth: float, sr: float) -> np.ndarray:
    a, b, c = _resonator_coefficients(np.asarray(frequency), np.asarray(bandwidth), sr)
    return signal.lfilter([float(a)], [1.0, -float(b), -float(c)], x)


def _time_varying_cascade(
    x: np.ndarray, formants: np.ndarray, widths: np.ndarray, sr: float, block: int
) -> np.ndarray:
    """Filter ``x`` ``(T,)`` through resonators whose ``(K, blocks)`` settings change per block.

    Exact block-wise time-varying filtering with the state (the last two outputs) carried from
    block to block, so the output is continuous.
    """
    a, b, c = _resonator_coefficients(formants, np.broadcast_to(widths, formants.shape), sr)
    y = x
    for k in range(formants.shape[0]):
        y = _block_resonator(y, a[k], b[k], c[k], block)
    return y


def _block_resonator(
    x: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, block: int
) -> np.ndarray:
    """``y[n] = a x[n] + b y[n-1] + c y[n-2]`` with ``(blocks,)`` coefficients, one per block.

    Every block's output is its zero-state response plus ``y[-1] * g1 + y[-2] * g2``, the
    responses to a unit previous output; those three are computed for all blocks at once
    (a loop over the ``block`` samples), then a cheap scalar pass carries the two-sample state
    from block to block.
    """
    num_samples, num_blocks = x.size, a.size
    padded = np.zeros(num_blocks * block)
    padded[:num_samples] = x
    drive = padded.reshape(num_blocks, block)
    responses = np.empty((3, num_blocks, block))  # zero-state, unit y[-1], unit y[-2]
    previous = np.zeros((3, num_blocks))
    before = np.zeros((3, num_blocks))
    previous[1] = 1.0
    before[2] = 1.0
    for n in range(block):
        current = b * previous + c * before
        current[0] += a * drive[:, n]
        responses[:, :, n] = current
        before, previous = previous, current
    zero_state, unit_last, unit_before = responses
    last = (zero_state[:, -1].tolist(), unit_last[:, -1].tolist(), unit_before[:, -1].tolist())
    prior = (zero_state[:, -2].tolist(), unit_last[:, -2].tolist(), unit_before[:, -2].tolist())
    states = np.empty((num_blocks, 2))
    y1 = y2 = 0.0  # y[-1], y[-2] entering the block
    for j in range(num_blocks):
        states[j] = (y1, y2)
        y1, y2 = (
            last[0][j] + y1 * last[1][j] + y2 * last[2][j],
            prior[0][j] + y1 * prior[1][j] + y2 * prior[2][j],
        )
    out = zero_state + states[:, :1] * unit_last + states[:, 1:] * unit_before
    return out.reshape(-1)[:num_samples]


def _band_noise(
    rng: np.random.Generator, num_samples: int, low: float, high: float, sr: float
) -> np.ndarray:
    """Unit-RMS Gaussian noise band-passed to ``[low, high]`` Hz (clamped below Nyquist)."""
    high = min(high, 0.45 * sr)
    low = min(low, 0.6 * high)
    shaped = signal.sosfilt(_bandpass(low, high, sr), rng.standard_normal(num_samples))
    rms = float(np.sqrt(np.mean(shaped**2)))
    return shaped / rms if rms > 0 else shaped


@functools.lru_cache(maxsize=64)
def _bandpass(low: float, high: float, sr: float) -> np.ndarray:
    return signal.butter(3, [low, high], "bandpass", fs=sr, output="sos")


@functools.lru_cache(maxsize=16)
def _low_cut(sr: float) -> np.ndarray:
    return signal.butter(2, 50.0, "highpass", fs=sr, output="sos")
