"""The embedded corpus: speech-like audio synthesised in code, deterministic by seed.

It lets every user and CI run the whole pipeline (prepare, train, synthesise, evaluate) without
downloads. The synthesiser is a small source-filter model in the spirit of formant synthesis:

* **Source.** A glottal flow-derivative pulse train (Rosenberg-type pulses: a raised-cosine
  opening, a quarter-cosine closing, a closed phase) driven by a continuous pitch contour:
  per-phrase declination, pitch accents on stressed syllables, a slow random wander and
  per-period jitter and shimmer. Pulsed aspiration noise adds breathiness.
* **Filter.** A cascade of two-pole resonators (unity gain at DC) whose F1-F3 and bandwidths
  move smoothly between the targets of vowels, nasals and approximants; F4 and F5 are fixed.
  The time-varying part runs block-wise (about 3 ms) with the filter state carried across
  blocks.
* **Noise.** Fricatives (s, sh, f, z, v), stop bursts (closure, burst, aspiration) and "h" are
  band-shaped noise, in parallel to the cascade (aspiration goes through it).
* **Timing.** Words of one to three syllables (optional onset and coda consonants), pauses
  between some words, smoothed amplitude envelopes, a low noise floor.

Speakers differ in pitch (80-250 Hz), vocal-tract length (formant scale), breathiness, glottal
open quotient and speaking rate. One second of 22.05 kHz audio takes a few tens of
milliseconds of CPU.

:func:`build_synthetic_corpus` writes a speech corpus (WAV files and train/valid manifests with a
speaker column) for vocoder training; :func:`build_synthetic_clips` writes short labelled
one-word clips (an SC09-like set whose class fixes the word: its syllables, vowels and pitch
pattern) for unconditional and class-conditional GANs. Both are idempotent: a second call with
the same arguments reuses the files (checked by their headers) and rewrites the manifests.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

from audiogan.audio import AudioError, audio_info, save_audio
from audiogan.data.manifest import ManifestEntry, write_manifest

__all__ = [
    "DIGIT_NAMES",
    "SYNTH_VERSION",
    "SpeakerProfile",
    "SyntheticUtterance",
    "build_synthetic_clips",
    "build_synthetic_corpus",
    "speaker_profile",
    "synthesize_utterance",
    "synthesize_utterance_detailed",
    "synthesize_word",
]

logger = logging.getLogger(__name__)

SYNTH_VERSION: int = 1
"""Bumped whenever the synthesiser's output changes; stored in the corpus stamp files."""

DIGIT_NAMES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
"""Class names of :func:`build_synthetic_clips` when ``num_classes <= 10``."""

# Formant targets F1-F3 in Hz for an adult male vocal tract (classic textbook averages);
# speakers scale them by their formant_scale.
_VOWELS: dict[str, tuple[float, float, float]] = {
    "iy": (270.0, 2290.0, 3010.0),
    "ih": (390.0, 1990.0, 2550.0),
    "eh": (530.0, 1840.0, 2480.0),
    "ae": (660.0, 1720.0, 2410.0),
    "aa": (730.0, 1090.0, 2440.0),
    "ao": (570.0, 840.0, 2410.0),
    "uh": (440.0, 1020.0, 2240.0),
    "uw": (300.0, 870.0, 2240.0),
    "ah": (640.0, 1190.0, 2390.0),
    "er": (490.0, 1350.0, 1690.0),
}
_APPROXIMANTS: dict[str, tuple[float, float, float]] = {
    "w": (300.0, 700.0, 2200.0),
    "y": (280.0, 2250.0, 2950.0),
    "l": (360.0, 1050.0, 2650.0),
    "r": (420.0, 1250.0, 1650.0),
}
_NASALS: dict[str, tuple[float, float, float]] = {
    "m": (270.0, 1100.0, 2200.0),
    "n": (270.0, 1500.0, 2500.0),
}
# Noise bands (Hz) of fricatives and stop bursts, and their levels relative to vowels.
_NOISE_BANDS: dict[str, tuple[float, float, float]] = {
    "s": (3800.0, 9500.0, 0.45),
    "sh": (1800.0, 5000.0, 0.5),
    "f": (900.0, 8000.0, 0.18),
    "burst_t": (2800.0, 9000.0, 0.6),
    "burst_k": (1400.0, 4200.0, 0.6),
    "burst_p": (400.0, 5000.0, 0.5),
}
_FRICATIVES = ("s", "sh", "f", "z", "v", "h")
_STOPS = ("p", "t", "k", "b", "d", "g")
_BURST_OF = {"p": "burst_p", "b": "burst_p", "t": "burst_t", "d": "burst_t"}
_BURST_OF.update({"k": "burst_k", "g": "burst_k"})
_VOICED_NOISE_OF = {"z": "s", "v": "f"}

_KIND_PAUSE, _KIND_VOWEL, _KIND_NASAL, _KIND_APPROX = 0, 1, 2, 3
_KIND_FRIC, _KIND_CLOSURE, _KIND_BURST, _KIND_ASPIRATION = 4, 5, 6, 7
_VOICED_KINDS = (_KIND_VOWEL, _KIND_NASAL, _KIND_APPROX)
_BLOCK_SECONDS = 0.003  # update interval of the time-varying resonators
_NOISE_FLOOR = 2e-4  # background noise, about -74 dBFS before peak normalisation
_DEFAULT_SPEAKERS = (
    # f0, formant_scale, breathiness, open_quotient, rate
    (110.0, 1.00, 0.04, 0.55, 1.00),
    (205.0, 1.17, 0.08, 0.68, 1.05),
    (135.0, 1.05, 0.05, 0.60, 0.92),
    (172.0, 1.12, 0.07, 0.64, 1.10),
)


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


# --------------------------------------------------------------------------- speakers


def speaker_profile(speaker: int) -> SpeakerProfile:
    """The voice of synthetic speaker ``speaker``.

    Speakers 0-3 are fixed, hand-picked voices (low male, high female, mid male, low female);
    higher ids are drawn deterministically from the id, with pitch in 80-250 Hz and a formant
    scale that grows with pitch.

    Args:
        speaker: Non-negative speaker id.

    Returns:
        The profile.
    """
    if speaker < 0:
        raise ValueError(f"speaker must be >= 0, got {speaker}")
    if speaker < len(_DEFAULT_SPEAKERS):
        return SpeakerProfile(*_DEFAULT_SPEAKERS[speaker])
    rng = np.random.default_rng([0x5EA4, speaker])
    f0 = float(np.exp(rng.uniform(np.log(80.0), np.log(250.0))))
    scale = 1.0 + 0.2 * (f0 - 90.0) / 160.0 + rng.uniform(-0.04, 0.04)
    return SpeakerProfile(
        f0=f0,
        formant_scale=float(np.clip(scale, 0.92, 1.25)),
        breathiness=float(rng.uniform(0.03, 0.09)),
        open_quotient=float(rng.uniform(0.5, 0.7)),
        rate=float(rng.uniform(0.85, 1.15)),
    )


# --------------------------------------------------------------------------- public synthesis


def synthesize_utterance(
    seed: int, *, sample_rate: int = 22050, duration: float = 2.0, speaker: int = 0
) -> np.ndarray:
    """Synthesise a speech-like utterance.

    Args:
        seed: Non-negative seed; the same arguments give bit-identical output.
        sample_rate: Output rate in Hz (8000 or more).
        duration: Length in seconds (the output has ``round(duration * sample_rate)`` samples).
        speaker: Speaker id, see :func:`speaker_profile`.

    Returns:
        ``(round(duration * sample_rate),)`` float32 samples in ``[-0.95, 0.95]``.
    """
    return synthesize_utterance_detailed(
        seed, sample_rate=sample_rate, duration=duration, speaker=speaker
    ).wave


def synthesize_utterance_detailed(
    seed: int, *, sample_rate: int = 22050, duration: float = 2.0, speaker: int = 0
) -> SyntheticUtterance:
    """:func:`synthesize_utterance`, also returning the ground-truth pitch track.

    Args:
        seed: Non-negative seed.
        sample_rate: Output rate in Hz (8000 or more).
        duration: Length in seconds (at least 0.1).
        speaker: Speaker id.

    Returns:
        The wave ``(T,)`` and its pitch ``(T,)`` (0 where unvoiced).
    """
    _check_common(seed, sample_rate)
    if not duration >= 0.1:
        raise ValueError(f"duration must be at least 0.1 s, got {duration}")
    profile = speaker_profile(speaker)
    rng = np.random.default_rng([seed, speaker, 0xA0D10])
    num_samples = int(round(duration * sample_rate))
    plan = _random_plan(rng, num_samples / sample_rate, profile.rate)
    prosody = _Prosody(start=rng.uniform(1.05, 1.25), end=rng.uniform(0.8, 0.92))
    peak = float(rng.uniform(0.5, 0.9))
    return _render(plan, profile, prosody, rng, sample_rate, num_samples, peak)


def synthesize_word(
    label: int,
    seed: int,
    *,
    num_samples: int = 16384,
    sample_rate: int = 16000,
    speaker: int = 0,
) -> np.ndarray:
    """Synthesise one "word" of class ``label`` inside a clip of silence.

    The class fixes the word (its syllables, consonants, vowels, stress and pitch pattern);
    the seed varies the instance: tempo, position in the clip, small formant and pitch changes
    and level. The speaker sets the voice.

    Args:
        label: Non-negative class id.
        seed: Non-negative instance seed.
        num_samples: Clip length in samples (at least 0.3 s).
        sample_rate: Rate in Hz (8000 or more).
        speaker: Speaker id.

    Returns:
        ``(num_samples,)`` float32 samples in ``[-0.95, 0.95]``.
    """
    _check_common(seed, sample_rate)
    if label < 0:
        raise ValueError(f"label must be >= 0, got {label}")
    clip_seconds = num_samples / sample_rate
    if clip_seconds < 0.3:
        raise ValueError(f"a word clip needs at least 0.3 s, got {num_samples} samples")
    profile = speaker_profile(speaker)
    template = _word_template(label)
    rng = np.random.default_rng([seed, label, speaker, 0x3021])
    tempo = profile.rate * rng.uniform(0.88, 1.15)
    word = [
        seg._replace(
            seconds=seg.seconds / tempo,
            formants=None
            if seg.formants is None
            else tuple(f * rng.uniform(0.95, 1.05) for f in seg.formants),
        )
        for seg in template.segments
    ]
    length = sum(seg.seconds for seg in word)
    room = clip_seconds - 0.06
    if length > room:  # squeeze into the clip
        word = [seg._replace(seconds=seg.seconds * room / length) for seg in word]
        length = room
    lead = rng.uniform(0.03, max(0.03, clip_seconds - length - 0.03))
    plan = [_Segment(_KIND_PAUSE, lead), *word, _Segment(_KIND_PAUSE, 1.0)]
    prosody = _Prosody(
        start=template.prosody.start * rng.uniform(0.96, 1.04),
        end=template.prosody.end * rng.uniform(0.96, 1.04),
    )
    peak = float(rng.uniform(0.5, 0.9))
    return _render(plan, profile, prosody, rng, sample_rate, num_samples, peak).wave


# --------------------------------------------------------------------------- corpora


def build_synthetic_corpus(
    root: str | os.PathLike[str],
    *,
    sample_rate: int = 22050,
    num_utterances: int = 120,
    duration_range: tuple[float, float] = (1.0, 3.0),
    num_speakers: int = 4,
    seed: int = 0,
    valid_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write the synthetic speech corpus: WAV files plus train/valid manifests.

    Utterance ``i`` has speaker ``i % num_speakers``, a duration drawn uniformly from
    ``duration_range`` and its own seed, all derived from ``(seed, i)``. Files go to
    ``root/wavs/utt_00000.wav`` ... (16-bit PCM); manifests to ``root/train.tsv`` and
    ``root/valid.tsv`` with a ``speaker`` column (``spk0`` ...). The validation utterances are a
    seeded random ``valid_fraction`` of them (at least one when the fraction is positive).

    Idempotent: ``root/synthetic_corpus.json`` records the arguments; a second call with the
    same ones keeps every file whose header matches (rate and length) and rewrites only missing
    or different ones. With other arguments the old ``utt_*.wav`` files are removed first.

    Args:
        root: Output directory (created).
        sample_rate: Rate in Hz.
        num_utterances: Number of utterances (the default, 120, is about 4 minutes).
        duration_range: ``(shortest, longest)`` utterance in seconds.
        num_speakers: Number of speakers (ids 0 .. num_speakers - 1).
        seed: Non-negative corpus seed.
        valid_fraction: Fraction of utterances in the validation manifest, in ``[0, 1)``.
        labels: Optional class name per speaker (``len(labels) == num_speakers``) written to
            the ``label`` column, e.g. for a speaker-conditional model.

    Returns:
        ``{"train": path, "valid": path}`` (no ``"valid"`` when ``valid_fraction`` is 0).
    """
    low, high = duration_range
    if not 0.1 <= low <= high:
        raise ValueError(f"duration_range must satisfy 0.1 <= low <= high, got {duration_range}")
    if num_utterances < 1 or num_speakers < 1:
        raise ValueError("num_utterances and num_speakers must be >= 1")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if labels is not None and len(labels) != num_speakers:
        raise ValueError(f"labels needs one name per speaker ({num_speakers}), got {len(labels)}")
    _check_common(seed, sample_rate)
    root = Path(root)
    stamp = {
        "kind": "corpus",
        "version": SYNTH_VERSION,
        "sample_rate": sample_rate,
        "num_utterances": num_utterances,
        "duration_range": [float(low), float(high)],
        "num_speakers": num_speakers,
        "seed": seed,
    }
    jobs: list[_Job] = []
    for index in range(num_utterances):
        rng = np.random.default_rng([seed, index, 0xC0FFEE])
        duration = float(rng.uniform(low, high))
        utt_seed = int(rng.integers(0, 2**31 - 1))
        speaker = index % num_speakers
        jobs.append(
            _Job(
                path=root / "wavs" / f"utt_{index:05d}.wav",
                num_samples=int(round(duration * sample_rate)),
                speaker=f"spk{speaker}",
                label=labels[speaker] if labels is not None else None,
                render=_utterance_renderer(utt_seed, sample_rate, duration, speaker),
            )
        )
    entries = _materialize(
        root, "synthetic_corpus.json", stamp, "wavs", "utt_*.wav", jobs, sample_rate
    )
    return _write_split(root, entries, valid_fraction, seed)


def build_synthetic_clips(
    root: str | os.PathLike[str],
    *,
    num_clips: int,
    clip_length: int = 16384,
    sample_rate: int = 16000,
    num_classes: int = 10,
    seed: int = 0,
    num_speakers: int = 16,
    valid_fraction: float = 0.0,
) -> dict[str, Path]:
    """Write labelled one-word clips (SC09-like) for unconditional / class-conditional GANs.

    Clip ``i`` has class ``i % num_classes`` (balanced) and a speaker and instance seed derived
    from ``(seed, i)``. Class names are :data:`DIGIT_NAMES` when ``num_classes <= 10``, else
    ``class00`` .... Files go to ``root/clips/<name>_00000.wav``; the manifest
    ``root/train.tsv`` has ``speaker`` and ``label`` columns. Idempotent like
    :func:`build_synthetic_corpus` (stamp ``root/synthetic_clips.json``).

    Args:
        root: Output directory (created).
        num_clips: Number of clips.
        clip_length: Samples per clip.
        sample_rate: Rate in Hz.
        num_classes: Number of word classes.
        seed: Non-negative seed.
        num_speakers: Size of the speaker pool the clips draw from.
        valid_fraction: Fraction held out in ``root/valid.tsv``, in ``[0, 1)``.

    Returns:
        ``{"train": path}``, plus ``"valid"`` when ``valid_fraction > 0``.
    """
    if num_clips < 1 or num_classes < 1 or num_speakers < 1:
        raise ValueError("num_clips, num_classes and num_speakers must be >= 1")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    _check_common(seed, sample_rate)
    if clip_length / sample_rate < 0.3:
        raise ValueError(f"clip_length {clip_length} is under 0.3 s at {sample_rate} Hz")
    names = (
        list(DIGIT_NAMES[:num_classes])
        if num_classes <= len(DIGIT_NAMES)
        else [f"class{k:02d}" for k in range(num_classes)]
    )
    root = Path(root)
    stamp = {
        "kind": "clips",
        "version": SYNTH_VERSION,
        "num_clips": num_clips,
        "clip_length": clip_length,
        "sample_rate": sample_rate,
        "num_classes": num_classes,
        "num_speakers": num_speakers,
        "seed": seed,
    }
    jobs: list[_Job] = []
    for index in range(num_clips):
        rng = np.random.default_rng([seed, index, 0xC11B])
        label = index % num_classes
        speaker = int(rng.integers(0, num_speakers))
        clip_seed = int(rng.integers(0, 2**31 - 1))
        jobs.append(
            _Job(
                path=root / "clips" / f"{names[label]}_{index:05d}.wav",
                num_samples=clip_length,
                speaker=f"spk{speaker}",
                label=names[label],
                render=_word_renderer(label, clip_seed, clip_length, sample_rate, speaker),
            )
        )
    entries = _materialize(
        root, "synthetic_clips.json", stamp, "clips", "*_[0-9]*.wav", jobs, sample_rate
    )
    return _write_split(root, entries, valid_fraction, seed)


# --------------------------------------------------------------------------- plans


def _random_plan(rng: np.random.Generator, seconds: float, rate: float) -> list[_Segment]:
    """Words separated by occasional pauses, filling ``seconds`` and ending in silence.

    A word that would overrun the end is squeezed in when it needs at most 40% compression
    (always for the first word, so even short utterances hold speech), else left out.
    """
    lead = min(rng.uniform(0.04, 0.15), 0.15 * seconds)
    tail = min(rng.uniform(0.06, 0.2), 0.15 * seconds)
    plan = [_Segment(_KIND_PAUSE, lead)]
    elapsed, room = lead, seconds - tail
    while elapsed < room:
        word = _random_word(rng, rate)
        length = sum(seg.seconds for seg in word)
        if elapsed + length > room:
            squeeze = (room - elapsed) / length
            if squeeze < 0.6 and len(plan) > 1:
                break
            word = [seg._replace(seconds=seg.seconds * squeeze) for seg in word]
            length *= squeeze
        plan.extend(word)
        elapsed += length
        pause = rng.uniform(0.08, 0.3) if rng.random() < 0.3 else rng.uniform(0.0, 0.03)
        plan.append(_Segment(_KIND_PAUSE, pause))  # a pause, or words running together
        elapsed += pause
    plan.append(_Segment(_KIND_PAUSE, seconds))  # silence to the end (the renderer cuts)
    return plan


def _random_word(rng: np.random.Generator, rate: float) -> list[_Segment]:
    syllables = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
    stressed = int(rng.integers(0, syllables))
    vowels = list(_VOWELS)
    segments: list[_Segment] = []
    for position in range(syllables):
        if rng.random() < 0.75:
            segments.extend(_consonant(rng, _random_consonant(rng), rate))
        stress = position == stressed
        vowel = vowels[int(rng.integers(0, len(vowels)))]
        seconds = rng.uniform(0.08, 0.18) * (1.35 if stress else 1.0) / rate
        segments.append(
            _Segment(
                _KIND_VOWEL,
                seconds,
                formants=_VOWELS[vowel],
                level=1.0 if stress else rng.uniform(0.55, 0.8),
                accent=rng.uniform(0.08, 0.25) if stress else 0.0,
            )
        )
        if rng.random() < 0.25:
            segments.extend(_consonant(rng, _random_consonant(rng), rate))
    return segments


def _random_consonant(rng: np.random.Generator) -> str:
    group = rng.choice(4, p=[0.35, 0.35, 0.15, 0.15])
    pool = (_FRICATIVES, _STOPS, tuple(_NASALS), tuple(_APPROXIMANTS))[int(group)]
    return str(pool[int(rng.integers(0, len(pool)))])


def _consonant(rng: np.random.Generator, name: str, rate: float) -> list[_Segment]:
    """The segments of one consonant."""
    if name in _NASALS:
        return [_Segment(_KIND_NASAL, rng.uniform(0.05, 0.09) / rate, _NASALS[name], level=0.3)]
    if name in _APPROXIMANTS:
        return [
            _Segment(_KIND_APPROX, rng.uniform(0.04, 0.08) / rate, _APPROXIMANTS[name], level=0.5)
        ]
    if name == "h":
        return [_Segment(_KIND_ASPIRATION, rng.uniform(0.05, 0.09) / rate, level=0.35)]
    if name in _FRICATIVES:
        voiced = name in _VOICED_NOISE_OF
        band = _VOICED_NOISE_OF.get(name, name)
        seconds = rng.uniform(0.06, 0.12) / rate
        level = _NOISE_BANDS[band][2] * (0.6 if voiced else 1.0)
        segments = [_Segment(_KIND_FRIC, seconds, noise=band, level=level)]
        if voiced:  # a weak voicing bar under the noise
            segments = [_Segment(_KIND_FRIC, seconds, (300.0, 1400.0, 2500.0), band, level)]
        return segments
    # stops: closure (silence, or a weak voicing bar for b/d/g), burst, aspiration
    voiced = name in ("b", "d", "g")
    closure = rng.uniform(0.03, 0.06) / rate
    burst = _BURST_OF[name]
    segments = [
        _Segment(_KIND_CLOSURE, closure, (250.0, 900.0, 2300.0) if voiced else None, level=0.12),
        _Segment(_KIND_BURST, rng.uniform(0.008, 0.016), noise=burst, level=_NOISE_BANDS[burst][2]),
    ]
    if not voiced:
        segments.append(_Segment(_KIND_ASPIRATION, rng.uniform(0.02, 0.05) / rate, level=0.25))
    return segments


class _WordTemplate(NamedTuple):
    segments: list[_Segment]
    prosody: _Prosody


def _word_template(label: int) -> _WordTemplate:
    """The fixed word of class ``label`` (independent of any corpus seed)."""
    rng = np.random.default_rng([0xD161, label])
    syllables = 1 + int(rng.integers(0, 2)) + (1 if label % 5 == 4 else 0)
    stressed = int(rng.integers(0, syllables))
    vowels = list(_VOWELS)
    # successive classes start on different vowels so the classes stay easy to tell apart
    first_vowel = vowels[(label * 3) % len(vowels)]
    segments: list[_Segment] = []
    for position in range(syllables):
        if position == 0 or rng.random() < 0.7:
            segments.extend(_consonant(rng, _random_consonant(rng), 1.0))
        vowel = first_vowel if position == 0 else vowels[int(rng.integers(0, len(vowels)))]
        stress = position == stressed
        segments.append(
            _Segment(
                _KIND_VOWEL,
                rng.uniform(0.1, 0.2) * (1.3 if stress else 1.0),
                _VOWELS[vowel],
                level=1.0 if stress else 0.7,
                accent=rng.uniform(0.1, 0.3) if stress else 0.0,
            )
        )
    if rng.random() < 0.5:
        segments.extend(_consonant(rng, _random_consonant(rng), 1.0))
    rising = label % 3 == 1
    prosody = _Prosody(start=0.95, end=1.2) if rising else _Prosody(start=1.2, end=0.85)
    return _WordTemplate(segments, prosody)


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


def _check_common(seed: int, sample_rate: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")


# --------------------------------------------------------------------------- writing corpora


class _Job(NamedTuple):
    path: Path
    num_samples: int
    speaker: str | None
    label: str | None
    render: Callable[[], np.ndarray]


def _utterance_renderer(
    seed: int, sample_rate: int, duration: float, speaker: int
) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        return synthesize_utterance(
            seed, sample_rate=sample_rate, duration=duration, speaker=speaker
        )

    return render


def _word_renderer(
    label: int, seed: int, num_samples: int, sample_rate: int, speaker: int
) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        return synthesize_word(
            label, seed, num_samples=num_samples, sample_rate=sample_rate, speaker=speaker
        )

    return render


def _materialize(
    root: Path,
    stamp_name: str,
    stamp: dict[str, object],
    folder: str,
    pattern: str,
    jobs: list[_Job],
    sample_rate: int,
) -> list[ManifestEntry]:
    """Write the jobs' files (reusing matching ones) and return their manifest entries."""
    stamp_path = root / stamp_name
    previous = _read_stamp(stamp_path)
    if previous is not None and previous != stamp:
        expected = {job.path.name for job in jobs}
        stale = [p for p in sorted((root / folder).glob(pattern)) if p.name not in expected]
        for path in stale:
            path.unlink()
        logger.info(
            "%s: settings changed; regenerating (%d stale file(s) removed)", root, len(stale)
        )
    # a file is reused only when the stamp shows it was made with these settings and its header
    # matches (an interrupted earlier build leaves missing or truncated files, rewritten here)
    reuse = previous == stamp
    written = 0
    for job in jobs:
        if reuse and _matches(job.path, job.num_samples, sample_rate):
            continue
        wave = job.render()
        assert wave.shape == (job.num_samples,), (wave.shape, job.num_samples)
        save_audio(job.path, wave, sample_rate)
        written += 1
    root.mkdir(parents=True, exist_ok=True)
    tmp = stamp_path.with_name(f".{stamp_path.name}.tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, stamp_path)
    logger.info("%s: %d file(s) written, %d reused", root, written, len(jobs) - written)
    return [
        ManifestEntry(
            path=Path(os.path.abspath(job.path)),
            num_samples=job.num_samples,
            sample_rate=sample_rate,
            speaker=job.speaker,
            label=job.label,
        )
        for job in jobs
    ]


def _read_stamp(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _matches(path: Path, num_samples: int, sample_rate: int) -> bool:
    try:
        info = audio_info(path)
    except AudioError:
        return False
    return info.num_frames == num_samples and info.sample_rate == sample_rate and info.channels == 1


def _write_split(
    root: Path, entries: list[ManifestEntry], valid_fraction: float, seed: int
) -> dict[str, Path]:
    count = len(entries)
    num_valid = 0 if valid_fraction <= 0 else max(1, int(round(valid_fraction * count)))
    if num_valid >= count:
        raise ValueError(f"valid_fraction {valid_fraction} leaves no training data of {count}")
    chosen = set(np.random.default_rng([seed, 0x5B117]).permutation(count)[:num_valid].tolist())
    train = [entry for index, entry in enumerate(entries) if index not in chosen]
    paths = {"train": write_manifest(root / "train.tsv", train)}
    valid_path = root / "valid.tsv"
    if num_valid:
        paths["valid"] = write_manifest(valid_path, [entries[i] for i in sorted(chosen)])
    elif valid_path.exists():
        valid_path.unlink()
    return paths
