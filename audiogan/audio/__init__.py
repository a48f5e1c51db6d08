"""Audio files: finding them (``files``), reading and writing (``io``), WAV header checks,
resampling and wave helpers.

The public names are re-exported here: ``from audiogan.audio import load_audio, save_audio``.
"""

from audiogan.audio.files import AUDIO_SUFFIXES, find_audio_files, has_audio_suffix
from audiogan.audio.io import (
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    SAVE_FORMATS,
    AudioError,
    AudioInfo,
    SampleRateError,
    audio_info,
    is_silent,
    load_audio,
    peak_normalize,
    resample,
    save_audio,
    to_mono,
)

__all__ = [
    "AUDIO_SUFFIXES", "find_audio_files", "has_audio_suffix",
    "MAX_CHANNELS", "MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "SAVE_FORMATS", "AudioError",
    "AudioInfo", "SampleRateError", "audio_info", "is_silent", "load_audio", "peak_normalize",
    "resample", "save_audio", "to_mono",
]
