"""Test signals shared by the audiogan.audio.io tests (test_audio, test_audio_save, test_resample,
test_wave_ops): a sine, uniform noise and a valid 16-bit WAV of both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def _sine(freq: float, seconds: float = 0.5, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(seconds: float = 0.5, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-amp, amp, int(seconds * SR)).astype(np.float32)


def _valid_wav(path: Path) -> Path:
    sf.write(path, _sine(440.0) + _noise(), SR, subtype="PCM_16")
    return path
