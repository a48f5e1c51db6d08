"""An independent numpy/librosa restatement of the feature profiles, and the test signals the
feature tests share (test_features.py, test_feature_spec.py, test_feature_stats.py).

The conventions are written down here from the reference implementations each profile follows
(jik876/hifi-gan, NVIDIA Tacotron 2, kan-bayashi/ParallelWaveGAN, descriptinc/melgan-neurips,
gemelo-ai/vocos), not taken from ``audiogan.features.spec``, and computed on their own (numpy
padding, explicit framing, ``np.fft.rfft``, librosa's mel basis), so that a wrong entry in the
module's profile table shows up as a mismatch rather than being shared by module and test.
"""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
import torch

# --------------------------------------------------------------------------- the reference

# Conventions per profile, independently of audiogan.features.mel:
#   center  True: reflect-pad n_fft // 2 on each side (torch/librosa centring);
#           False: reflect-pad (n_fft - hop) // 2 on each side, frames = T // hop
#   eps     magnitude sqrt(re^2 + im^2 + eps); None: |X|
#   htk     mel scale: HTK (True) or Slaney (False); norm: librosa mel-basis normalisation
#   log     natural log or log10 of max(mel, floor)
# Every profile uses a periodic Hann window of win_length samples centred in n_fft.
REFERENCE: dict[str, dict] = {
    "hifigan": {"center": False, "eps": 1e-9, "htk": False, "norm": "slaney",
                "log": np.log, "floor": 1e-5},
    "tacotron2": {"center": True, "eps": None, "htk": False, "norm": "slaney",
                  "log": np.log, "floor": 1e-5},
    "pwg": {"center": True, "eps": None, "htk": False, "norm": "slaney",
            "log": np.log10, "floor": 1e-10},
    "melgan": {"center": False, "eps": None, "htk": False, "norm": "slaney",
               "log": np.log10, "floor": 1e-5},
    "vocos": {"center": True, "eps": None, "htk": True, "norm": None,
              "log": np.log, "floor": 1e-7},
}

# (sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max); None = sr / 2.
CANONICAL: dict[str, tuple] = {
    "hifigan": (22050, 1024, 256, 1024, 80, 0.0, 8000.0),
    "tacotron2": (22050, 1024, 256, 1024, 80, 0.0, 8000.0),
    "pwg": (22050, 1024, 256, 1024, 80, 80.0, 7600.0),
    "melgan": (22050, 1024, 256, 1024, 80, 0.0, None),
    "vocos": (24000, 1024, 256, 1024, 100, 0.0, None),
}
FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max")
CENTERED = {name for name, conv in REFERENCE.items() if conv["center"]}


def reference_logmel(wave: np.ndarray, profile: str, **overrides) -> np.ndarray:
    """(T,) float64 -> (n_mels, frames) float64, straight from REFERENCE and CANONICAL above."""
    settings = dict(zip(FIELDS, CANONICAL[profile], strict=True))
    settings.update(overrides)
    sr, n_fft, hop = settings["sample_rate"], settings["n_fft"], settings["hop_length"]
    win = settings["win_length"]
    conv = REFERENCE[profile]
    if conv["center"]:
        left = right = n_fft // 2
    else:  # jik876/hifi-gan, melgan-neurips: int((n_fft - hop) / 2) on each side
        left = right = (n_fft - hop) // 2
    padded = np.pad(wave.astype(np.float64), (left, right), mode="reflect")
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset:offset + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum = np.fft.rfft(frames * window, axis=-1).T  # (n_freqs, frames)
    if conv["eps"] is None:
        magnitude = np.abs(spectrum)
    else:
        magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + conv["eps"])
    f_max = settings["f_max"]
    basis = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=settings["n_mels"], fmin=settings["f_min"],
        fmax=sr / 2 if f_max is None else f_max, htk=conv["htk"], norm=conv["norm"],
        dtype=np.float64,
    )
    return conv["log"](np.maximum(basis @ magnitude, conv["floor"]))


def documented_frames(profile: str, num_samples: int, hop: int = 256) -> int:
    """The frame rule as the module docstring states it (even n_fft)."""
    return num_samples // hop + 1 if profile in CENTERED else num_samples // hop


# --------------------------------------------------------------------------- signals

SR = 22050


def _time(seconds: float, sr: int = SR) -> np.ndarray:
    return np.arange(int(seconds * sr)) / sr


def sines(seconds: float = 0.5) -> np.ndarray:
    t = _time(seconds)
    return 0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 3150.5 * t + 1.0)


def chirp(seconds: float = 0.5) -> np.ndarray:
    t = _time(seconds)
    return 0.5 * np.sin(2 * np.pi * (60 * t + 9000 * t**2))  # 60 Hz -> 9060 Hz


def noise(seconds: float = 0.5) -> np.ndarray:
    return 0.1 * np.random.default_rng(1).standard_normal(int(seconds * SR))


def with_floor(signal: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """A tone plus a -40 dB noise floor, as in any recording.

    Pure digital tones put mel bins 100+ dB below the peak, where float32 FFT rounding
    (~1e-7 of the peak) dominates: there the float32 log error is set by the FFT backend,
    not by the formulas, so the float32 bounds are checked on tones over a noise floor
    (the float64 check uses the pure tones).
    """

    def make() -> np.ndarray:
        clean = signal()
        return clean + 0.004 * np.random.default_rng(2).standard_normal(clean.shape)

    make.__name__ = f"{signal.__name__}_floor"
    return make


SIGNALS64 = {"sines": sines, "chirp": chirp, "noise": noise}
SIGNALS32 = {"sines_floor": with_floor(sines), "chirp_floor": with_floor(chirp), "noise": noise}


def assert_close64(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert actual.dtype == torch.float64
    assert tuple(actual.shape) == expected.shape
    error = np.abs(actual.numpy() - expected)
    assert error.max() <= 1e-6, f"float64 max abs error {error.max():.3g}"


def assert_close32(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert actual.dtype == torch.float32
    assert tuple(actual.shape) == expected.shape
    error = np.abs(actual.double().numpy() - expected)
    assert error.mean() <= 1e-5, f"float32 mean abs error {error.mean():.3g}"
    assert error.max() <= 5e-3, f"float32 max abs error {error.max():.3g}"
