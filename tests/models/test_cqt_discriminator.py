"""audiogan.models.cqt_discriminator: BigVGAN-v2's multi-scale sub-band CQT discriminator
(``cqtd``), alone and inside ``combined``; its outputs against the bigvgan 2.4.1 package's own
discriminator (from .refs/) on the same weights; the config's sample rate reaching it."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf
import torch
from refs_helpers import require_reference

from audiogan.config import ConfigError, config_from_dict
from audiogan.config.build import discriminator_from_config, discriminator_params
from audiogan.config.checks import check_discriminator
from audiogan.models import build_discriminator
from audiogan.models.cqt_discriminator import MultiScaleSubbandCQTDiscriminator
from audiogan.models.layers import has_weight_norm

# 8 kHz input, CQT at 16 kHz: four octaves from 32.7 Hz, early decimation by 4, 4 -> 16 channels.
TINY = {"sample_rate": 8000, "hop_lengths": (64, 32), "n_octaves": (4, 4),
        "bins_per_octaves": (8, 12), "filters": 4, "max_filters": 16, "filters_scale": 2}
TOLERANCE = 1e-4  # max |ours - reference| on logits and feature maps (measured: 0)


def _tiny(**overrides: object) -> MultiScaleSubbandCQTDiscriminator:
    disc = build_discriminator("cqtd", **{**TINY, **overrides})
    assert isinstance(disc, MultiScaleSubbandCQTDiscriminator)
    return disc


@pytest.mark.parametrize("length", [30, 257, 3001, 8192])
def test_output_structure_for_several_lengths(length: int) -> None:
    torch.manual_seed(0)
    disc = _tiny()
    out = disc(torch.randn(2, 1, length))
    assert disc.names == ["cqtd_h64_o4_b8", "cqtd_h32_o4_b12"]
    assert len(out.logits) == len(out.features) == 2
    for sub, logits, features, bins in zip(disc.discriminators, out.logits, out.features, (8, 12)):
        frames = sub.cqt_transform.frames(2 * length)  # the CQT sees the wave resampled 2x
        widths = [4 * bins]  # bins: halved (rounded up) by each of the three strided convs
        for _ in range(3):
            widths.append((widths[-1] + 1) // 2)
        widths.append(widths[-1])
        assert [tuple(f.shape) for f in features] == [
            (2, channels, frames, width) for channels, width in zip((4, 8, 16, 16, 16), widths)]
        assert logits.shape == (2, frames * widths[-1])
        assert all(torch.isfinite(f).all() for f in features) and torch.isfinite(logits).all()


def test_gradients_reach_every_parameter_and_the_input() -> None:
    torch.manual_seed(0)
    disc = _tiny(normalize_volume=True)
    wave = torch.randn(2, 1, 3001, requires_grad=True)
    out = disc(wave)
    loss = sum(logit.pow(2).mean() for logit in out.logits)
    loss = loss + sum(f.pow(2).mean() for features in out.features for f in features)
    loss.backward()
    for name, param in disc.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert wave.grad is not None and wave.grad.abs().sum() > 0


def test_remove_weight_norm_keeps_outputs_and_the_plain_convs_have_none() -> None:
    torch.manual_seed(0)
    disc = _tiny().eval()
    sub = disc.discriminators[0]
    # As BigVGAN: the per-octave convs and the first conv are plain, the rest weight-normed.
    assert not any(has_weight_norm(conv) for conv in [*sub.conv_pres, sub.convs[0]])
    assert all(has_weight_norm(conv) for conv in [*sub.convs[1:], sub.conv_post])
    wave = torch.randn(1, 1, 3001)
    before = disc(wave)
    disc.remove_weight_norm()
    assert not has_weight_norm(disc)
    for x, y in zip(before.logits, disc(wave).logits):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


def test_under_bfloat16_autocast_the_spectra_stay_float32() -> None:
    torch.manual_seed(0)
    disc = _tiny().eval()
    wave = 0.3 * torch.randn(2, 1, 3001)
    seen = []
    hook = disc.discriminators[0].cqt_transform.register_forward_hook(
        lambda module, args, out: seen.append((args[0].dtype, out.dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = disc(wave)
    hook.remove()
    assert seen == [(torch.float32, torch.float32)]  # the resampled input too
    for logits, exact in zip(mixed.logits, disc(wave).logits):
        assert logits.dtype == torch.bfloat16
        torch.testing.assert_close(logits.float(), exact, rtol=0.05, atol=0.05)


def test_normalize_volume_ignores_gain_and_offset() -> None:
    torch.manual_seed(0)
    disc = _tiny(normalize_volume=True).eval()
    wave = 0.1 * torch.randn(1, 1, 3001)
    a, b = disc(wave), disc(3.0 * wave + 0.2)
    for x, y in zip(a.logits, b.logits):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(_tiny().eval()(wave).logits[0], _tiny().eval()(3.0 * wave).logits[0])


def test_sizes_follow_the_filters_settings_and_bad_settings_are_refused() -> None:
    with torch.device("meta"):
        default = build_discriminator("cqtd", sample_rate=44100)
    first = default.discriminators[0]
    assert [conv.out_channels for conv in first.convs] == [128, 128, 128, 128, 128]
    assert len(first.conv_pres) == 9 and first.cqt_transform.n_bins == 9 * 24
    assert [d.cqt_transform.hop_length for d in default.discriminators] == [512, 256, 256]
    with pytest.raises(ValueError, match="one entry per sub-discriminator"):
        _tiny(hop_lengths=(64,))
    with pytest.raises(ValueError, match="above Nyquist"):
        build_discriminator("cqtd", sample_rate=16000)  # 9 octaves reach 16.4 kHz > 16 kHz
    with pytest.raises(ValueError, match="divisible"):
        _tiny(hop_lengths=(64, 36))


# --------------------------------------------------------------------------- combined


def test_combined_adds_the_cqt_part_after_the_others() -> None:
    disc = build_discriminator("combined", periods=[2, 3], scales=0, cqtd=True, sample_rate=8000,
                               mpd_params={"channels": (4, 8, 16, 16, 16)},
                               cqtd_params={k: v for k, v in TINY.items() if k != "sample_rate"})
    assert disc.names == ["mpd_p2", "mpd_p3", "cqtd_h64_o4_b8", "cqtd_h32_o4_b12"]
    torch.manual_seed(0)
    wave = torch.randn(2, 1, 3001)
    out = disc(wave)
    alone = disc.parts[1](wave)
    for x, y in zip(out.logits[2:], alone.logits):
        torch.testing.assert_close(x, y)
    with pytest.raises(ValueError, match="cqtd needs sample_rate"):
        build_discriminator("combined", periods=[2], scales=0, cqtd=True)
    with pytest.raises(ValueError, match="cqtd_params given but cqtd is false"):
        build_discriminator("combined", periods=[2], cqtd_params={"filters": 4})
    # Without cqtd the sample rate changes nothing (discriminator_from_config passes it).
    plain = build_discriminator("combined", periods=[2], scales=1, sample_rate=8000)
    assert plain.names == ["mpd_p2", "msd_s0"]


def _config(name: str, params: dict[str, object]) -> object:
    return config_from_dict({
        "sample_rate": 8000,
        "features": {"profile": "hifigan", "n_fft": 256, "hop_length": 64, "win_length": 256,
                     "n_mels": 20, "f_max": None},
        "generator": {"name": "hifigan", "params": {"preset": "v3"}},
        "discriminator": {"name": name, "params": params},
    }, check_models=False)


def test_the_configs_sample_rate_reaches_the_discriminator() -> None:
    params = {k: v for k, v in TINY.items() if k != "sample_rate"}
    config = _config("cqtd", params)
    assert discriminator_params(config) == {**params, "sample_rate": 8000}
    check_discriminator(config)  # type: ignore[arg-type]
    disc = discriminator_from_config(config)  # type: ignore[arg-type]
    assert isinstance(disc, MultiScaleSubbandCQTDiscriminator) and disc.sample_rate == 8000
    combined = _config("combined", {"periods": [2], "scales": 0, "cqtd": True,
                                    "cqtd_params": params})
    check_discriminator(combined)  # type: ignore[arg-type]
    assert discriminator_from_config(combined).names[-1] == "cqtd_h32_o4_b12"  # type: ignore
    assert "sample_rate" not in discriminator_params(_config("mpd", {"periods": [2]}))
    with pytest.raises(ConfigError, match="discriminator.params.sample_rate: 16000 differs"):
        check_discriminator(_config("cqtd", {**params, "sample_rate": 16000}))  # type: ignore
    with pytest.raises(ConfigError, match="discriminator.params: .*above Nyquist"):
        check_discriminator(_config("cqtd", {}))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the reference


@pytest.fixture(scope="module")
def reference() -> SimpleNamespace:
    """bigvgan 2.4.1's MultiScaleSubbandCQTDiscriminator and AttrDict (nnAudio inside)."""
    refs = require_reference("bigvgan/discriminators.py", "the bigvgan 2.4.1 reference package")
    require_reference("nnAudio/features/cqt.py", "nnAudio 0.3.4")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    from bigvgan.discriminators import MultiScaleSubbandCQTDiscriminator as Reference
    from bigvgan.env import AttrDict

    return SimpleNamespace(Discriminator=Reference, AttrDict=AttrDict)


def _reference_state_as_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference's keys are ours but for weight norm's names."""
    names = {"weight_g": "parametrizations.weight.original0",
             "weight_v": "parametrizations.weight.original1"}
    renamed = {}
    for key, value in state.items():
        prefix, _, last = key.rpartition(".")
        renamed[f"{prefix}.{names.get(last, last)}"] = value
    return renamed


def _compare(reference: SimpleNamespace, sample_rate: int, wave: torch.Tensor,
             **settings: object) -> None:
    torch.manual_seed(0)
    cfg = reference.AttrDict({"sampling_rate": sample_rate,
                              **{f"cqtd_{key}": value for key, value in settings.items()}})
    with contextlib.redirect_stdout(io.StringIO()):  # nnAudio prints its progress
        theirs = reference.Discriminator(cfg).eval()
    ours = build_discriminator("cqtd", sample_rate=sample_rate, **settings).eval()
    ours.load_state_dict(_reference_state_as_ours(theirs.state_dict()), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters())
    with torch.no_grad():
        expected_logits, _, expected_features, _ = theirs(wave, wave)
        out = ours(wave)
    assert len(out.logits) == len(expected_logits) == 3
    for logits, expected, features, expected_maps in zip(out.logits, expected_logits,
                                                         out.features, expected_features):
        assert logits.shape == expected.flatten(1).shape
        assert float((logits - expected.flatten(1)).abs().max()) <= TOLERANCE
        assert len(features) == len(expected_maps) == 5
        for feature, expected_map in zip(features, expected_maps):
            assert feature.shape == expected_map.shape
            assert float((feature - expected_map).abs().max()) <= TOLERANCE


def _speech(dev_data: Path, samples: int) -> torch.Tensor:
    wave, _ = sf.read(dev_data / "ljspeech" / "LJ001-0090.wav", dtype="float32")
    return torch.from_numpy(wave[4000:4000 + samples])[None, None]


@pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated:FutureWarning")
def test_equals_the_reference_discriminator_on_the_same_weights(reference: SimpleNamespace,
                                                                dev_data: Path) -> None:
    """The published settings (24 kHz) with 32 filters, the reference's class default, to stay
    fast; then volume normalisation (its ``cqtd_normalize_volume``) at 22.05 kHz."""
    _compare(reference, 24000, _speech(dev_data, 6001), filters=32)
    _compare(reference, 22050, 3.0 * _speech(dev_data, 5003), filters=32, normalize_volume=True)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated:FutureWarning")
def test_equals_the_reference_at_the_published_44khz_size(reference: SimpleNamespace,
                                                          dev_data: Path) -> None:
    _compare(reference, 44100, _speech(dev_data, 11025), filters=128, max_filters=1024,
             filters_scale=1, dilations=[1, 2, 4], hop_lengths=[512, 256, 256],
             n_octaves=[9, 9, 9], bins_per_octaves=[24, 36, 48])
