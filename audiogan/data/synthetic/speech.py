"""The speech-like signal model: speakers, random utterance plans and word templates.

:func:`synthesize_utterance` and :func:`synthesize_word` plan a sequence of segments (words of
one to three syllables, consonants, pauses, a pitch pattern) from a seed and a speaker, then
hand it to :func:`audiogan.data.synthetic.render._render`.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np

from audiogan.data.synthetic.render import (
    _KIND_APPROX,
    _KIND_ASPIRATION,
    _KIND_BURST,
    _KIND_CLOSURE,
    _KIND_FRIC,
    _KIND_NASAL,
    _KIND_PAUSE,
    _KIND_VOWEL,
    _NOISE_BANDS,
    SpeakerProfile,
    SyntheticUtterance,
    _Prosody,
    _render,
    _Segment,
)

__all__ = [
    "SYNTH_VERSION",
    "SpeakerProfile",
    "SyntheticUtterance",
    "speaker_profile",
    "synthesize_utterance",
    "synthesize_utterance_detailed",
    "synthesize_word",
]

SYNTH_VERSION: int = 1
"""Bumped whenever the synthesiser's output changes; stored in the corpus stamp files."""

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
_FRICATIVES = ("s", "sh", "f", "z", "v", "h")
_STOPS = ("p", "t", "k", "b", "d", "g")
_BURST_OF = {"p": "burst_p", "b": "burst_p", "t": "burst_t", "d": "burst_t"}
_BURST_OF.update({"k": "burst_k", "g": "burst_k"})
_VOICED_NOISE_OF = {"z": "s", "v": "f"}

_DEFAULT_SPEAKERS = (
    # f0, formant_scale, breathiness, open_quotient, rate
    (110.0, 1.00, 0.04, 0.55, 1.00),
    (205.0, 1.17, 0.08, 0.68, 1.05),
    (135.0, 1.05, 0.05, 0.60, 0.92),
    (172.0, 1.12, 0.07, 0.64, 1.10),
)


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
            else cast(  # three formants in, three out
                "tuple[float, float, float]",
                tuple(f * rng.uniform(0.95, 1.05) for f in seg.formants),
            ),
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


def _check_common(seed: int, sample_rate: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
