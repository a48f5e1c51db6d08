"""Tests for audiogan.features: every profile against an independent numpy/librosa reference.

The reference below restates DESIGN.md §3 on its own (numpy padding, explicit framing,
``np.fft.rfft``, librosa's mel basis) so that a wrong entry in the module's profile table shows
up as a mismatch rather than being shared by module and test.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.features import (
    DEFAULT,
    PROFILES,
    FeatureSpec,
    MelSpectrogram,
    compute_stats,
    resolve_spec,
)

# --------------------------------------------------------------------------- the reference

# Conventions per profile, restated from DESIGN.md §3 independently of audiogan.features.
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
    """(T,) float64 -> (n_mels, frames) float64, straight from the DESIGN.md table."""
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


@cache
def _speech(path: Path) -> np.ndarray:
    wave, sr = sf.read(path, dtype="float64")
    assert sr == 22050 and wave.ndim == 1
    return wave


@pytest.fixture
def speech(dev_data: Path) -> np.ndarray:
    """LJ001-0001 (22050 Hz, ~10 s) as float64; skipped when the dev data is absent."""
    path = dev_data / "ljspeech" / "LJ001-0001.wav"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return _speech(path)


# --------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize("signal", SIGNALS64)
@pytest.mark.parametrize("profile", PROFILES)
def test_matches_reference_float64(profile: str, signal: str) -> None:
    wave = SIGNALS64[signal]()
    mel = MelSpectrogram(profile).double()
    assert_close64(mel(torch.from_numpy(wave)), reference_logmel(wave, profile))


@pytest.mark.parametrize("signal", SIGNALS32)
@pytest.mark.parametrize("profile", PROFILES)
def test_matches_reference_float32(profile: str, signal: str) -> None:
    wave = SIGNALS32[signal]()
    mel = MelSpectrogram(profile)
    assert_close32(mel(torch.from_numpy(wave).float()), reference_logmel(wave, profile))


@pytest.mark.parametrize("profile", PROFILES)
def test_matches_reference_on_real_speech(profile: str, speech: np.ndarray) -> None:
    # The samples are used as they are for every profile (vocos is nominally 24 kHz): the
    # comparison is about the formulas, and both sides see the same samples and settings.
    expected = reference_logmel(speech, profile)
    assert_close64(MelSpectrogram(profile).double()(torch.from_numpy(speech)), expected)
    assert_close32(MelSpectrogram(profile)(torch.from_numpy(speech).float()), expected)


OVERRIDES = [
    # window shorter than n_fft (centred in the frame), odd-free sizes, other rates
    {"n_fft": 1024, "hop_length": 200, "win_length": 800},
    {"sample_rate": 16000, "n_fft": 512, "hop_length": 128, "win_length": 400, "n_mels": 64,
     "f_min": 20.0, "f_max": None},
    {"sample_rate": 44100, "n_fft": 2048, "hop_length": 512, "win_length": 2048, "n_mels": 128,
     "f_max": 16000.0},
]


@pytest.mark.parametrize("overrides", OVERRIDES, ids=["short-window", "16k", "44k"])
@pytest.mark.parametrize("profile", PROFILES)
def test_matches_reference_with_overrides(profile: str, overrides: dict) -> None:
    wave = chirp(0.3)
    mel = MelSpectrogram(profile, **overrides).double()
    assert_close64(mel(torch.from_numpy(wave)), reference_logmel(wave, profile, **overrides))


def test_reference_framing_agrees_with_librosa_stft() -> None:
    # Guards the test's own reference: centred numpy framing == librosa.stft(pad_mode="reflect")
    # (the ParallelWaveGAN code path), and the log-mel then matches too.
    wave = chirp(0.4)
    spectrum = librosa.stft(wave, n_fft=1024, hop_length=256, win_length=1024, window="hann",
                            center=True, pad_mode="reflect")
    basis = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=80, fmax=7600,
                                dtype=np.float64)
    via_librosa = np.log10(np.maximum(basis @ np.abs(spectrum), 1e-10))
    np.testing.assert_allclose(reference_logmel(wave, "pwg"), via_librosa, rtol=0, atol=1e-8)


def test_vocos_matches_torchaudio() -> None:
    # gemelo-ai/vocos computes its features with torchaudio; check interop with it directly.
    torchaudio = pytest.importorskip("torchaudio")
    wave = torch.from_numpy(with_floor(chirp)()).float()
    theirs = torchaudio.transforms.MelSpectrogram(
        sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, center=True, power=1,
    )(wave).clamp(min=1e-7).log()
    ours = MelSpectrogram("vocos")(wave)
    assert ours.shape == theirs.shape
    error = (ours - theirs).abs()
    assert error.mean() <= 1e-5 and error.max() <= 5e-3


# --------------------------------------------------------------------------- frame counts

LENGTHS = [1, 2, 100, 255, 256, 257, 300, 511, 512, 513, 767, 1000, 1023, 1024, 1025, 4096,
           4097, 8191, 22050]


@pytest.mark.parametrize("profile", PROFILES)
def test_frame_counts_as_documented(profile: str) -> None:
    mel = MelSpectrogram(profile)
    rng = np.random.default_rng(3)
    for length in LENGTHS:
        expected = documented_frames(profile, length)
        assert mel.frames_for(length) == expected, length
        assert mel.spec.frames_for(length) == expected, length
        wave = torch.from_numpy(0.3 * rng.standard_normal((2, length))).float()
        assert tuple(mel(wave).shape) == (2, mel.n_mels, expected), length


@pytest.mark.parametrize("length", [1, 2, 100, 300, 700, 1000])
@pytest.mark.parametrize("profile", PROFILES)
def test_short_clips_match_reference(profile: str, length: int) -> None:
    # Shorter than n_fft, and often shorter than the reflect pad: the padding continues the
    # reflection like numpy.pad (hence like librosa.stft), so the values still match.
    wave = 0.3 * np.random.default_rng(length).standard_normal(length)
    out = MelSpectrogram(profile).double()(torch.from_numpy(wave))
    if documented_frames(profile, length) == 0:
        assert tuple(out.shape) == (MelSpectrogram(profile).n_mels, 0)
        return
    assert_close64(out, reference_logmel(wave, profile))


def test_hifigan_odd_padding_keeps_frame_rule() -> None:
    # n_fft - hop odd: the reference pads int((n_fft - hop) / 2) on both sides and yields
    # (T - 1) // hop frames; here the right side gets the extra sample, the first frames are the
    # reference's and the count stays T // hop.
    hop, length = 255, 255 * 20
    wave = chirp(1.0)[:length]
    mel = MelSpectrogram("hifigan", hop_length=hop).double()
    out = mel(torch.from_numpy(wave))
    assert out.shape[-1] == mel.frames_for(length) == length // hop
    expected = reference_logmel(wave, "hifigan", hop_length=hop)
    assert expected.shape[-1] == (length - 1) // hop
    assert_close64(out[:, : expected.shape[-1]], expected)


def test_odd_n_fft_centred_frame_rule() -> None:
    mel = MelSpectrogram("tacotron2", n_fft=1023, win_length=1023)
    for length in (256, 257, 1000, 1024):
        assert mel.frames_for(length) == (length - 1) // 256 + 1
        assert mel(torch.zeros(length)).shape[-1] == mel.frames_for(length)


def test_empty_input_and_bad_lengths_raise() -> None:
    mel = MelSpectrogram()
    with pytest.raises(ValueError, match="empty"):
        mel(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="num_samples"):
        mel.frames_for(0)


# --------------------------------------------------------------------------- settings


def test_profiles_and_default() -> None:
    assert PROFILES == ("hifigan", "tacotron2", "pwg", "melgan", "vocos")
    assert MelSpectrogram().spec.profile == "hifigan"
    assert resolve_spec().profile == "hifigan"


@pytest.mark.parametrize("profile", PROFILES)
def test_canonical_defaults(profile: str) -> None:
    expected = dict(zip(FIELDS, CANONICAL[profile], strict=True))
    spec = resolve_spec(profile)
    assert {name: getattr(spec, name) for name in FIELDS} == expected
    mel = MelSpectrogram(profile)
    assert mel.spec == spec
    assert (mel.sample_rate, mel.n_fft, mel.hop_length, mel.win_length, mel.n_mels) == (
        expected["sample_rate"], expected["n_fft"], expected["hop_length"],
        expected["win_length"], expected["n_mels"],
    )
    assert mel.mel_basis.shape == (expected["n_mels"], expected["n_fft"] // 2 + 1)
    assert mel.window.shape == (expected["win_length"],)
    sr = expected["sample_rate"]
    assert spec.f_max_hz == (sr / 2 if expected["f_max"] is None else expected["f_max"])


def test_explicit_overrides_win() -> None:
    spec = resolve_spec("vocos", sample_rate=22050, n_mels=80, hop_length=200, f_min=30)
    assert (spec.profile, spec.sample_rate, spec.n_mels, spec.hop_length, spec.f_min) == (
        "vocos", 22050, 80, 200, 30.0,
    )
    assert (spec.n_fft, spec.win_length, spec.f_max) == (1024, 1024, None)  # still canonical
    assert spec.mel_htk and spec.mel_norm is None and spec.log_floor == 1e-7  # conventions stay
    assert resolve_spec("hifigan", n_fft=DEFAULT, f_max=DEFAULT) == resolve_spec("hifigan")
    mel = MelSpectrogram("pwg", n_mels=64, win_length=800)
    assert (mel.n_mels, mel.win_length, mel.spec.f_min, mel.spec.f_max) == (64, 800, 80.0, 7600.0)


def test_f_max_none_means_nyquist() -> None:
    spec = resolve_spec("hifigan", f_max=None)
    assert spec.f_max is None and spec.f_max_hz == 11025.0
    mel = MelSpectrogram("hifigan", f_max=None)
    expected = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0, fmax=11025,
                                   dtype=np.float64)
    np.testing.assert_allclose(mel.mel_basis.numpy(), expected, rtol=1e-6, atol=1e-9)
    assert mel.mel_basis[-1, -30:].abs().sum() > 0  # the top filter reaches the Nyquist region


def test_spec_helpers() -> None:
    spec = resolve_spec("pwg")
    assert FeatureSpec(**spec.to_dict()) == spec
    assert spec.center and spec.padding == (512, 512) and spec.n_freqs == 513
    assert spec.log_base == "10" and spec.log_min == pytest.approx(-10.0)
    hifigan = resolve_spec("hifigan")
    assert not hifigan.center and hifigan.padding == (384, 384)
    assert hifigan.magnitude_eps == 1e-9 and hifigan.log_min == pytest.approx(np.log(1e-5))
    assert resolve_spec("hifigan", hop_length=255).padding == (384, 385)
    direct = MelSpectrogram.from_spec(spec)
    assert direct.spec == spec and torch.equal(direct.mel_basis, MelSpectrogram("pwg").mel_basis)
    assert "pwg" in repr(direct)


def test_unknown_profile_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown feature profile 'hifi'") as info:
        resolve_spec("hifi")
    for name in PROFILES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="valid profiles"):
        MelSpectrogram("waveglow")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"win_length": 2048}, "win_length"),
        ({"hop_length": 2048}, "hop_length"),
        ({"f_max": 12000.0}, "f_max"),
        ({"sample_rate": 8000}, "f_max=None"),  # canonical 8 kHz above the new Nyquist
        ({"f_min": 9000.0}, "f_min"),
        ({"f_min": -1.0}, "f_min"),
        ({"n_fft": 0}, "n_fft must be positive"),
        ({"hop_length": -1}, "hop_length must be positive"),
        ({"n_mels": 0}, "n_mels must be positive"),
        ({"sample_rate": 0}, "sample_rate must be positive"),
        ({"win_length": 0}, "win_length must be positive"),
    ],
)
def test_validation_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_spec("hifigan", **overrides)
    with pytest.raises(ValueError, match=message):
        MelSpectrogram("hifigan", **overrides)


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="n_fft"):
        resolve_spec(n_fft=1024.5)
    with pytest.raises(TypeError, match="f_max"):
        resolve_spec(f_max="8000")
    with pytest.raises(TypeError):
        resolve_spec(bogus=1)
    assert resolve_spec(n_fft=np.int64(512), win_length=512).n_fft == 512


# --------------------------------------------------------------------------- shapes and dtypes


def test_batch_shapes() -> None:
    mel = MelSpectrogram()
    wave = torch.from_numpy(np.stack([chirp(0.3), noise(0.3)])).float()  # (2, T)
    frames = mel.frames_for(wave.shape[-1])
    batched = mel(wave)
    assert batched.shape == (2, 80, frames)
    assert torch.equal(mel(wave.unsqueeze(1)), batched)
    single = mel(wave[1])
    assert single.shape == (80, frames)
    torch.testing.assert_close(single, batched[1], rtol=0, atol=1e-5)


def test_bad_shapes_and_dtypes() -> None:
    mel = MelSpectrogram()
    with pytest.raises(ValueError, match="channels"):
        mel(torch.zeros(2, 2, 4096))
    with pytest.raises(ValueError, match="expected"):
        mel(torch.zeros(1, 1, 1, 4096))
    with pytest.raises(TypeError, match="floating"):
        mel(torch.zeros(4096, dtype=torch.int16))


def test_float32_under_autocast_and_low_precision_input() -> None:
    mel = MelSpectrogram()
    wave = torch.from_numpy(with_floor(sines)()).float()
    plain = mel(wave)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = mel(wave)
    assert under_autocast.dtype == torch.float32
    assert torch.equal(under_autocast, plain)
    for dtype in (torch.bfloat16, torch.float16):
        assert mel(wave.to(dtype)).dtype == torch.float32
    assert mel(wave.double()).dtype == torch.float64  # float64 stays float64 (reference tests)


@pytest.mark.parametrize("profile", PROFILES)
def test_gradients_are_finite(profile: str) -> None:
    # Mel losses backpropagate through the features; silence must not give NaN gradients.
    wave = torch.zeros(2, 4096)
    wave[1] = torch.from_numpy(chirp(1.0)[:4096]).float()
    wave.requires_grad_(True)
    MelSpectrogram(profile)(wave).sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all()
    assert wave.grad[1].abs().sum() > 0


# --------------------------------------------------------------------------- buffers and stats


def test_buffers_not_saved_but_moved() -> None:
    mel = MelSpectrogram()
    assert mel.state_dict() == {}
    assert {name for name, _ in mel.named_buffers()} == {"mel_basis", "window"}
    mel.double()
    assert mel.mel_basis.dtype == torch.float64 and mel.window.dtype == torch.float64
    assert mel(torch.zeros(1000, dtype=torch.float64)).dtype == torch.float64


def test_each_module_builds_its_own_basis() -> None:
    first, second = MelSpectrogram(), MelSpectrogram()
    assert first.mel_basis.data_ptr() != second.mel_basis.data_ptr()
    assert torch.equal(first.mel_basis, second.mel_basis)


def _stats(n_mels: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.linspace(-6.0, -2.0, n_mels)
    scale = torch.linspace(0.5, 2.0, n_mels)
    return mean, scale


def test_stats_are_applied_and_saved() -> None:
    mean, scale = _stats()
    plain = MelSpectrogram("pwg")
    normed = MelSpectrogram("pwg", mean=mean, scale=scale)
    assert normed.has_stats and not plain.has_stats
    wave = torch.from_numpy(with_floor(chirp)()).float()
    expected = (plain(wave) - mean[:, None]) / scale[:, None]
    torch.testing.assert_close(normed(wave), expected)
    state = normed.state_dict()
    assert set(state) == {"mean", "scale"}  # basis and window are not saved

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = MelSpectrogram("pwg")  # built without stats: adopts them from the file
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.has_stats
    torch.testing.assert_close(restored(wave), normed(wave))

    normed.set_stats(None, None)
    assert not normed.has_stats and normed.state_dict() == {}


def test_stats_validation() -> None:
    mean, scale = _stats()
    with pytest.raises(ValueError, match="together"):
        MelSpectrogram("pwg", mean=mean)
    with pytest.raises(ValueError, match=r"shape \(80,\)"):
        MelSpectrogram("pwg", mean=mean[:10], scale=scale[:10])
    with pytest.raises(ValueError, match="positive"):
        MelSpectrogram("pwg", mean=mean, scale=torch.zeros(80))
    with pytest.raises(ValueError, match="non-finite"):
        MelSpectrogram("pwg", mean=torch.full((80,), float("nan")), scale=scale)
    with_stats = MelSpectrogram("pwg", mean=mean, scale=scale)
    with pytest.raises(RuntimeError, match="mean"):  # strict load without the stats
        with_stats.load_state_dict({})


def test_compute_stats_streams_and_normalises() -> None:
    mel = MelSpectrogram("pwg")
    clips = [torch.from_numpy(make()).float() for make in (sines, chirp, noise)]
    features = [mel(clip) for clip in clips]
    mean, scale = compute_stats(iter(features))
    stacked = torch.cat(features, dim=1).double()
    torch.testing.assert_close(mean.double(), stacked.mean(dim=1), rtol=0, atol=1e-5)
    torch.testing.assert_close(scale.double(), stacked.std(dim=1, correction=0), rtol=1e-5,
                               atol=1e-6)
    batched_mean, batched_scale = compute_stats([torch.stack(features[:2]), features[2]])
    torch.testing.assert_close(batched_mean, mean)
    torch.testing.assert_close(batched_scale, scale)

    normed = MelSpectrogram("pwg", mean=mean, scale=scale)
    out = torch.cat([normed(clip) for clip in clips], dim=1).double()
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(80, dtype=torch.float64),
                               rtol=0, atol=1e-4)
    torch.testing.assert_close(out.std(dim=1, correction=0), torch.ones(80, dtype=torch.float64),
                               rtol=0, atol=1e-4)


def test_compute_stats_edge_cases() -> None:
    constant = torch.ones(3, 50)
    mean, scale = compute_stats([constant])
    assert torch.equal(mean, torch.ones(3)) and torch.equal(scale, torch.ones(3))
    with pytest.raises(ValueError, match="at least one frame"):
        compute_stats([])
    with pytest.raises(ValueError, match="n_mels"):
        compute_stats([torch.zeros(3, 5), torch.zeros(4, 5)])


# --------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("profile", PROFILES)
def test_cpu_cuda_parity(profile: str) -> None:
    mean, scale = _stats(resolve_spec(profile).n_mels)
    cpu = MelSpectrogram(profile, mean=mean, scale=scale)
    cuda = MelSpectrogram(profile, mean=mean, scale=scale).to("cuda")
    assert cuda.mel_basis.is_cuda and cuda.window.is_cuda and cuda.mean.is_cuda
    wave = torch.from_numpy(np.stack([with_floor(chirp)(), noise()])).float()
    expected = cpu(wave)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        actual = cuda(wave.cuda())
    assert actual.dtype == torch.float32 and actual.shape == expected.shape
    error = (actual.cpu() - expected).abs() * scale[:, None]  # compare in the log-mel domain
    assert error.mean() <= 1e-5 and error.max() <= 5e-3
    reference = reference_logmel(with_floor(chirp)(), profile)
    assert_close32(((actual[0].cpu() * scale[:, None]) + mean[:, None]), reference)
