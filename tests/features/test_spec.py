"""Tests for audiogan.features.spec through audiogan.features.mel: profiles and their canonical
settings, overrides, f_max=None, spec helpers, validation and type errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from mel_reference import CANONICAL, FIELDS

from audiogan.features.mel import DEFAULT, PROFILES, FeatureSpec, MelSpectrogram, resolve_spec

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


# --------------------------------------------------------------------------- one FeatureSpec


def test_size_fields_are_the_spec_fields_after_profile() -> None:
    from audiogan.features import SIZE_FIELDS

    assert SIZE_FIELDS == ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels",
                           "f_min", "f_max")
    assert tuple(resolve_spec().to_dict()) == ("profile", *SIZE_FIELDS)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_spec_builds_the_same_module_as_its_fields(profile: str) -> None:
    spec = resolve_spec(profile, n_mels=64, hop_length=200, sample_rate=16000, f_max=None)
    by_spec = MelSpectrogram(spec)
    by_fields = MelSpectrogram(profile, n_mels=64, hop_length=200, sample_rate=16000,
                               f_max=None)
    assert by_spec.spec == by_fields.spec == MelSpectrogram.from_spec(spec).spec == spec
    assert torch.equal(by_spec.mel_basis, by_fields.mel_basis)
    wave = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(by_spec(wave), by_fields(wave))


def test_a_spec_with_overrides_and_statistics() -> None:
    spec = resolve_spec("pwg")
    mel = MelSpectrogram(spec, n_mels=40, mean=torch.zeros(40), scale=torch.ones(40))
    assert mel.spec == resolve_spec("pwg", n_mels=40) and mel.has_stats
    assert resolve_spec(spec) == spec and resolve_spec(spec, n_fft=DEFAULT) == spec
    with pytest.raises(ValueError, match="win_length"):
        resolve_spec(spec, n_fft=512)  # the spec's win_length 1024 no longer fits
    with pytest.raises(TypeError, match="'bogus'; the sizes are sample_rate, n_fft"):
        MelSpectrogram(spec, bogus=1)


def test_differences_name_each_field_that_differs() -> None:
    ours = resolve_spec("hifigan")
    assert ours.differences(ours) == [] and ours.differences(resolve_spec()) == []
    theirs = resolve_spec("tacotron2", n_mels=100, f_max=None)
    assert ours.differences(theirs) == [
        "profile: 'hifigan' -> 'tacotron2'", "n_mels: 80 -> 100", "f_max: 8000.0 -> None",
    ]


def test_config_feature_spec_is_what_the_model_is_built_with() -> None:
    from audiogan.config import config_from_dict
    from audiogan.config.build import features_from_config

    config = config_from_dict({
        "sample_rate": 16000,
        "features": {"profile": "vocos", "n_mels": 64},
        "generator": {"name": "hifigan", "params": {"preset": "v1"}},
        "discriminator": {"name": "combined", "params": {}},
    }, check_models=False)
    spec = config.feature_spec()
    assert spec == resolve_spec("vocos", sample_rate=16000, n_mels=64)
    assert features_from_config(config).spec == spec
    assert config.feature_kwargs() == spec.to_dict()


def test_settings_are_read_from_the_spec() -> None:
    from audiogan.features.spec import SpecSettings

    mel = MelSpectrogram("tacotron2", n_fft=512, win_length=400, hop_length=160, n_mels=40,
                         sample_rate=16000)
    assert isinstance(mel, SpecSettings)
    got = (mel.profile, mel.sample_rate, mel.n_fft, mel.hop_length, mel.win_length, mel.n_mels)
    assert got == ("tacotron2", 16000, 512, 160, 400, 40)
    assert mel.frames_for(16000) == mel.spec.frames_for(16000) == 101


def test_summary_is_the_printed_phrase() -> None:
    assert resolve_spec().summary() == "n_fft 1024, hop 256, win 1024, 80 mels, 0-8000 Hz"
    assert resolve_spec("pwg", f_max=None).summary() == (
        "n_fft 1024, hop 256, win 1024, 80 mels, 80-sr/2 Hz")
    assert resolve_spec("vocos", f_min=12.5, f_max=7999.5).summary().endswith(
        "100 mels, 12.5-7999.5 Hz")
