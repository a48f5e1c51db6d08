"""BIGVGAN_FEATURES (audiogan.features.spec): each published BigVGAN shape's features as its
NVIDIA config says, and MelSpectrogram against the bigvgan package's own ``mel_spectrogram``
(meldataset.py, from .refs/) on real speech for every distinct setting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from refs_helpers import require_reference

from audiogan.audio import resample
from audiogan.features.mel import MelSpectrogram
from audiogan.features.spec import BIGVGAN_FEATURES, FeatureSpec

#: (sample rate, n_fft = win, hop, n_mels, f_max) per config, restated from NVIDIA's
#: configs/bigvgan_*.json (fmin is 0 in all of them; None is the config's null).
CONFIGS = {
    "22khz_80band": (22050, 1024, 256, 80, 8000.0),
    "24khz_100band": (24000, 1024, 256, 100, 12000.0),
    "base_22khz_80band": (22050, 1024, 256, 80, 8000.0),
    "base_24khz_100band": (24000, 1024, 256, 100, 12000.0),
    "22khz_80band_256x": (22050, 1024, 256, 80, None),
    "22khz_80band_fmax8k_256x": (22050, 1024, 256, 80, 8000.0),
    "24khz_100band_256x": (24000, 1024, 256, 100, None),
    "44khz_128band_256x": (44100, 1024, 256, 128, None),
    "44khz_128band_512x": (44100, 2048, 512, 128, None),
}

DISTINCT = sorted({spec for spec in BIGVGAN_FEATURES.values()},
                  key=lambda s: (s.sample_rate, s.n_fft, s.f_max or 0.0))


def test_every_published_config_has_its_features() -> None:
    assert set(BIGVGAN_FEATURES) == set(CONFIGS)
    for name, (sr, n_fft, hop, n_mels, f_max) in CONFIGS.items():
        spec = BIGVGAN_FEATURES[name]
        assert spec == FeatureSpec("hifigan", sr, n_fft, hop, n_fft, n_mels, 0.0, f_max), name
    assert len(DISTINCT) == 6  # v1 22 kHz = v2 fmax8k; 24 kHz f_max 12000 and null are two
    with pytest.raises(TypeError):
        BIGVGAN_FEATURES["new"] = BIGVGAN_FEATURES["22khz_80band"]  # type: ignore[index]


@pytest.fixture(scope="module")
def reference_mel() -> object:
    refs = require_reference("bigvgan/meldataset.py", "the bigvgan 2.4.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    from bigvgan.meldataset import mel_spectrogram

    return mel_spectrogram


@pytest.mark.parametrize("spec", DISTINCT, ids=lambda s: f"{s.sample_rate}-{s.n_fft}-{s.f_max}")
def test_matches_the_reference_mel_on_real_speech(spec: FeatureSpec, reference_mel: object,
                                                   dev_data: Path) -> None:
    """LJ001-0090 resampled to the preset's rate, float32 as BigVGAN computes it (measured: mean
    |diff| 1.0e-6 to 1.3e-6, max 4.5e-4 to 7.2e-4, the max in bins near the 1e-5 floor)."""
    wave, sr = sf.read(dev_data / "ljspeech" / "LJ001-0090.wav", dtype="float32")
    audio = resample(torch.from_numpy(wave), sr, spec.sample_rate).clamp(-1.0, 1.0)[None]
    expected = reference_mel(audio, spec.n_fft, spec.n_mels, spec.sample_rate,  # type: ignore
                             spec.hop_length, spec.win_length, 0, spec.f_max)
    ours = MelSpectrogram(spec)(audio)
    assert ours.shape == expected.shape == (1, spec.n_mels, audio.shape[-1] // spec.hop_length)
    error = (ours.double() - expected.double()).abs()
    assert float(error.mean()) <= 1e-5, float(error.mean())
    assert float(error.max()) <= 5e-3, float(error.max())  # float32 rounding near the floor
