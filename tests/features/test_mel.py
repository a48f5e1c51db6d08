"""Tests for audiogan.features.mel (MelSpectrogram): every profile against the independent
numpy/librosa reference in mel_reference.py, frame counts, shapes and dtypes, buffers and stats
(settings: test_feature_spec.py; compute_stats: test_feature_stats.py).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from mel_reference import (
    SIGNALS32,
    SIGNALS64,
    SR,
    assert_close32,
    assert_close64,
    chirp,
    documented_frames,
    noise,
    reference_logmel,
    sines,
    with_floor,
)

from audiogan.features.mel import PROFILES, MelSpectrogram, resolve_spec


@cache
def _speech(path: Path) -> np.ndarray:
    wave, sr = sf.read(path, dtype="float64")
    assert sr == 22050 and wave.ndim == 1
    return wave


@pytest.fixture
def speech(dev_data: Path) -> np.ndarray:
    """LJ001-0090 (22050 Hz, 3.3 s, the longest committed LJSpeech clip) as float64."""
    return _speech(dev_data / "ljspeech" / "LJ001-0090.wav")


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
