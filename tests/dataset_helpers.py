"""Clips shared by the dataset tests (test_datasets.py, test_pairs.py): distinct noise with an
exact peak, written losslessly with its manifest entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiogan.audio.io import save_audio
from audiogan.data import ManifestEntry

SR = 16000


def _ramp(num_samples: int, peak: float = 0.5, seed: int = 0) -> np.ndarray:
    """Distinct, recognisable samples: noise whose peak is exactly ``peak``."""
    wave = np.random.default_rng(seed).uniform(-1.0, 1.0, num_samples)
    return (wave / np.abs(wave).max() * peak).astype(np.float32)


def _write(path: Path, wave: np.ndarray, sr: int = SR) -> ManifestEntry:
    save_audio(path, wave, sr, subtype="FLOAT")  # lossless, so tests can compare samples
    return ManifestEntry(path=path.absolute(), num_samples=wave.shape[-1], sample_rate=sr)
