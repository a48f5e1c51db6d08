"""The embedded corpus: speech-like audio synthesised in code, deterministic by seed.

It lets every user and CI run the whole pipeline (prepare, train, synthesise, evaluate) without
downloads. The synthesiser is a small source-filter model in the spirit of formant synthesis: a
glottal pulse train on a pitch contour (declination, accents, jitter, shimmer, breathiness)
through a time-varying cascade of formant resonators, with parallel band-shaped noise for
fricatives, stop bursts and aspiration, and words of one to three syllables separated by pauses.
Speakers differ in pitch, vocal-tract length, breathiness, open quotient and speaking rate.

* :mod:`~audiogan.data.synthetic.speech`: speakers, utterance and word plans, the public
  ``synthesize_*`` functions.
* :mod:`~audiogan.data.synthetic.render`: the DSP that renders a plan to samples.
* :mod:`~audiogan.data.synthetic.corpus`: :func:`build_synthetic_corpus` (a speech corpus with
  train/valid manifests) and :func:`build_synthetic_clips` (SC09-like labelled one-word clips),
  both idempotent.
"""

from __future__ import annotations

from audiogan.data.synthetic.corpus import (
    DIGIT_NAMES,
    build_synthetic_clips,
    build_synthetic_corpus,
)
from audiogan.data.synthetic.speech import (
    SYNTH_VERSION,
    SpeakerProfile,
    SyntheticUtterance,
    speaker_profile,
    synthesize_utterance,
    synthesize_utterance_detailed,
    synthesize_word,
)

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
