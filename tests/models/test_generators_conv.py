"""Convolutional vocoder generators (HiFi-GAN, MelGAN, multi-band MelGAN) and the PQMF bank.

Tiny channel counts keep forward passes fast; full-size presets are only built to count
their parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from audiogan.models import GENERATORS, build_generator
from audiogan.models.base import Generator
from audiogan.models.hifigan import HIFIGAN_PRESETS, HiFiGANGenerator
from audiogan.models.layers import ExactConvTranspose1d, has_weight_norm, transposed_padding
from audiogan.models.melgan import MirrorPad1d, MultiBandMelGANGenerator
from audiogan.models.pqmf import PQMF

NAMES = ("hifigan", "melgan", "multiband_melgan")
HOPS = (256, 300, 320, 480, 512)

# Upsampling factors per hop: full-band stages, and stages at the 4-band sub-band rate.
FULLBAND_RATES = {
    256: (8, 8, 2, 2),
    300: (5, 5, 4, 3),
    320: (8, 5, 4, 2),
    480: (8, 5, 4, 3),
    512: (8, 8, 4, 2),
}
SUBBAND_RATES = {
    256: (8, 4, 2),
    300: (5, 5, 3),
    320: (5, 4, 4),
    480: (8, 5, 3),
    512: (8, 4, 4),
}


def tiny_params(name: str, hop: int = 256) -> dict[str, Any]:
    """Small-channel constructor arguments for registry entry ``name`` at ``hop``."""
    if name == "hifigan":
        return {
            "preset": "v1",
            "upsample_initial_channel": 16,
            "in_channels": 8,
            "upsample_rates": FULLBAND_RATES[hop],
        }
    if name == "melgan":
        return {"channels": 16, "in_channels": 8, "upsample_rates": FULLBAND_RATES[hop]}
    if name == "multiband_melgan":
        return {"channels": 16, "in_channels": 8, "upsample_rates": SUBBAND_RATES[hop]}
    raise AssertionError(name)


def tiny(name: str, hop: int = 256, **overrides: Any) -> Generator:
    torch.manual_seed(0)
    return build_generator(name, **{**tiny_params(name, hop), **overrides}).eval()


def n_params(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_mel_input_kind(name: str) -> None:
    # The trainer reads input_kind from the class before building anything (this module's
    # imports of audiogan.models.hifigan / .melgan registered the classes).
    assert GENERATORS.get(name).input_kind == "mel"
    assert isinstance(tiny(name), Generator)


@pytest.mark.parametrize("hop", HOPS)
@pytest.mark.parametrize("name", NAMES)
def test_output_length_is_frames_times_hop(name: str, hop: int) -> None:
    gen = tiny(name, hop, in_channels=20)
    assert gen.hop_length == hop
    assert gen.in_channels == 20
    with torch.no_grad():
        for frames in (1, 3, 8):
            wave = gen(torch.randn(2, 20, frames))
            assert wave.shape == (2, 1, frames * hop)
            assert torch.isfinite(wave).all()


@pytest.mark.parametrize(
    ("rates", "kernels"),
    [
        ((5, 5, 4, 3), (11, 3, 7, 4)),  # odd kernels, a kernel smaller than its rate
        ((3, 7, 2), (9, 5, 2)),
        ((4, 1, 2), (8, 2, 5)),  # rate 1 with an even kernel: the trimmed case
    ],
)
def test_hifigan_exact_length_for_odd_kernels(
    rates: tuple[int, ...], kernels: tuple[int, ...]
) -> None:
    gen = HiFiGANGenerator(
        preset="v3",
        upsample_initial_channel=16,
        upsample_rates=rates,
        upsample_kernel_sizes=kernels,
    )
    with torch.no_grad():
        assert gen(torch.randn(1, 80, 5)).shape == (1, 1, 5 * math.prod(rates))


@pytest.mark.parametrize("stride", range(1, 9))
def test_exact_conv_transpose_any_kernel(stride: int) -> None:
    for kernel in range(1, 2 * stride + 6):
        padding, output_padding, trim = transposed_padding(kernel, stride)
        assert output_padding < stride and trim <= 1
        layer = ExactConvTranspose1d(1, 1, kernel, stride)
        for length in (1, 4):
            assert layer(torch.randn(1, 1, length)).shape[-1] == length * stride


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    gen = tiny(name).train()
    wave = gen(torch.randn(2, 8, 4))
    (wave * torch.randn_like(wave)).sum().backward()
    for param_name, parameter in gen.named_parameters():
        assert parameter.grad is not None, param_name
        assert parameter.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", ("melgan", "multiband_melgan"))
def test_melgan_residual_units_train_with_a_negative_slope(name: str) -> None:
    # the residual unit's in-place leaky ReLUs: torch cannot differentiate an in-place leaky
    # ReLU with a negative slope (it recovers the input from the output), so such a slope must
    # take the out-of-place path and give the gradients of the plain formula
    from audiogan.models.melgan import ResidualUnit

    torch.manual_seed(0)
    unit = ResidualUnit(4, dilation=3, kernel_size=3, negative_slope=-0.1)
    x = torch.randn(2, 4, 20, requires_grad=True)
    plain = x.detach().clone().requires_grad_(True)
    unit(x).square().sum().backward()
    (unit.shortcut(plain) + unit.block(plain)).square().sum().backward()
    assert x.grad is not None and plain.grad is not None
    torch.testing.assert_close(x.grad, plain.grad)
    gen = tiny(name, negative_slope=-0.1).train()
    gen(torch.randn(1, 8, 4)).sum().backward()
    assert all(p.grad is not None for p in gen.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_init_std_draws_normal_weights_or_keeps_the_default(name: str) -> None:
    default = tiny(name, weight_norm=False)
    drawn = tiny(name, weight_norm=False, init_std=0.05)
    conv_types = (torch.nn.Conv1d, torch.nn.ConvTranspose1d)
    convs = [m for m in drawn.modules() if isinstance(m, conv_types)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert weights.std().item() == pytest.approx(0.05, rel=0.05)
    assert weights.mean().abs().item() < 0.005
    # PyTorch's default (kaiming-uniform) is bounded by 1 / sqrt(fan_in): no N(0, 0.05) tails.
    for module in (m for m in default.modules() if isinstance(m, torch.nn.Conv1d)):
        fan_in = module.weight.shape[1] * module.weight.shape[2]
        assert module.weight.abs().max().item() <= 1 / math.sqrt(fan_in) + 1e-6
    for bad in (0.0, -0.01, float("nan")):
        with pytest.raises(ValueError, match="init_std must be a positive number"):
            tiny(name, init_std=bad)


@pytest.mark.parametrize("name", NAMES)
def test_remove_weight_norm_keeps_outputs(name: str) -> None:
    gen = tiny(name)
    assert has_weight_norm(gen)
    mel = torch.randn(2, 8, 6)
    with torch.no_grad():
        before = gen(mel)
        gen.remove_weight_norm()
        after = gen(mel)
    assert not has_weight_norm(gen)
    assert not any("parametrizations" in key for key in gen.state_dict())
    relative = (after - before).norm() / before.norm()
    assert relative <= 1e-5


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("hifigan", {}),
        ("hifigan", {"preset": "v3"}),
        ("hifigan", {"upsample_rates": (5, 5, 4, 3), "upsample_kernel_sizes": (11, 3, 7, 4)}),
        ("melgan", {}),
        ("multiband_melgan", {}),
        ("multiband_melgan", {"upsample_rates": (5, 5, 3)}),
    ],
)
def test_receptive_field_is_the_measured_influence(name: str, overrides: dict[str, Any]) -> None:
    """Output frame ``f`` depends on exactly the input frames within ``receptive_field_frames``.

    The gradient of frame ``f``'s samples w.r.t. the mel is exactly zero outside the frames that
    can influence it, and (leaky ReLUs, random weights) non-zero inside: its support is the
    measured influence. The computed bound must cover it, and be tight.
    """
    gen = tiny(name, **overrides).double()
    radius = gen.receptive_field_frames
    assert radius > 0
    frames = 2 * radius + 7
    frame = radius + 3  # every frame the bound allows exists, with margin to the edges
    mel = torch.randn(1, 8, frames, dtype=torch.float64, requires_grad=True)
    wave = gen(mel)
    hop = gen.hop_length
    wave[..., frame * hop : (frame + 1) * hop].sum().backward()
    influence = torch.nonzero(mel.grad.abs().amax(dim=(0, 1)) > 0).flatten()
    distances = (influence - frame).abs()
    assert int(distances.max()) == radius  # measured == computed: a bound, and a tight one
    # Perturbing frames beyond the bound changes nothing in output frame f.
    with torch.no_grad():
        far = mel.detach().clone()
        far[..., : frame - radius] += 10.0
        far[..., frame + radius + 1 :] -= 10.0
        window = slice(frame * hop, (frame + 1) * hop)
        torch.testing.assert_close(gen(far)[..., window], wave.detach()[..., window])


def test_hifigan_presets_published_shapes() -> None:
    v1, v2, v3 = (HIFIGAN_PRESETS[name] for name in ("v1", "v2", "v3"))
    assert v1.upsample_rates == v2.upsample_rates == (8, 8, 2, 2)
    assert v1.upsample_kernel_sizes == (16, 16, 4, 4)
    assert (v1.upsample_initial_channel, v2.upsample_initial_channel) == (512, 128)
    assert v1.resblock_kernel_sizes == (3, 7, 11)
    assert v1.resblock_dilation_sizes == ((1, 3, 5),) * 3
    assert v3.upsample_rates == (8, 8, 4) and v3.upsample_kernel_sizes == (16, 16, 8)
    assert v3.upsample_initial_channel == 256 and v3.resblock == "2"
    assert v3.resblock_dilation_sizes == ((1, 2), (2, 6), (3, 12))


@pytest.mark.parametrize(("preset", "published"), [("v1", 13.92e6), ("v2", 0.92e6), ("v3", 1.46e6)])
def test_hifigan_parameter_counts_match_paper(preset: str, published: float) -> None:
    # The paper counts the inference model: weight norm folded (no separate g vectors).
    # Measured: V1 13,926,017; V2 925,985; V3 1,462,273.
    gen = build_generator("hifigan", preset=preset, weight_norm=False)
    assert gen.hop_length == 256
    assert abs(n_params(gen) - published) / published < 0.01


def test_melgan_parameter_count() -> None:
    # Published 4.26M (Kumar et al.); measured 4,260,257 with weight norm folded.
    gen = build_generator("melgan", weight_norm=False)
    assert abs(n_params(gen) - 4.26e6) / 4.26e6 < 0.02


def test_folding_weight_norm_keeps_the_count_of_weights() -> None:
    with_norm = tiny("hifigan")
    folded = tiny("hifigan", weight_norm=False)
    with_norm.remove_weight_norm()
    assert n_params(with_norm) == n_params(folded)


def test_hifigan_overrides_and_errors() -> None:
    gen = HiFiGANGenerator(preset="v2", upsample_rates=(5, 4, 3), upsample_initial_channel=16)
    assert gen.config.upsample_kernel_sizes == (10, 8, 6)  # 2 x rate when rates are overridden
    assert gen.config.resblock_kernel_sizes == (3, 7, 11)  # the rest from the preset
    with pytest.raises(ValueError, match="valid presets: v1, v2, v3"):
        HiFiGANGenerator(preset="v4")
    with pytest.raises(ValueError, match="one entry per stage"):
        HiFiGANGenerator(upsample_rates=(8, 8), upsample_kernel_sizes=(16,))
    with pytest.raises(ValueError, match="odd"):
        HiFiGANGenerator(
            upsample_initial_channel=16, resblock_kernel_sizes=(4,), resblock_dilation_sizes=((1,),)
        )
    with pytest.raises(TypeError, match="hifigan"):
        build_generator("hifigan", upsample_rate=(8,))


def test_multiband_subbands_and_synthesis() -> None:
    gen = tiny("multiband_melgan")
    assert isinstance(gen, MultiBandMelGANGenerator)
    assert isinstance(gen.pqmf, PQMF) and gen.pqmf.subbands == 4
    assert not list(gen.pqmf.parameters()) and not gen.pqmf.state_dict()  # fixed, not saved
    mel = torch.randn(2, 8, 5)
    with torch.no_grad():
        subbands = gen.forward_subbands(mel)
        assert subbands.shape == (2, 4, 5 * 256 // 4)
        torch.testing.assert_close(gen(mel), gen.pqmf.synthesis(subbands))


# --- PQMF -------------------------------------------------------------------------------------


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    error = (reference - estimate).pow(2).sum()
    return float(10 * torch.log10(reference.pow(2).sum() / error))


def speech_like(samples: int, sample_rate: int = 22050) -> torch.Tensor:
    """A gliding harmonic tone with a syllable-rate envelope plus a little noise: (1, 1, T)."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(samples, dtype=torch.float64) / sample_rate
    f0 = 120 + 30 * torch.sin(2 * math.pi * 3 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 30))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t).clamp(min=0)
    noise = 0.05 * torch.randn(samples, generator=generator, dtype=torch.float64)
    return (0.3 * envelope * voiced + noise).float().view(1, 1, -1)


@pytest.mark.parametrize("signal", ["noise", "speech_like"])
def test_pqmf_reconstruction_snr(signal: str) -> None:
    """analysis -> synthesis reconstructs with SNR >= 40 dB and no delay.

    Measured (float32, edges of ``taps`` samples excluded): white noise ~64 dB, the speech-like
    signal ~64 dB (LJ001-0002, whole clip: ~60 dB). The bank is centred: best lag is 0.
    """
    pqmf = PQMF(subbands=4, taps=62, cutoff_ratio=0.142, beta=9.0)
    if signal == "noise":
        x = torch.randn(2, 1, 16384, generator=torch.Generator().manual_seed(0))
    else:
        x = speech_like(16384)
    bands = pqmf.analysis(x)
    assert bands.shape == (x.shape[0], 4, x.shape[-1] // 4)
    y = pqmf.synthesis(bands)
    assert y.shape == x.shape
    edge = pqmf.taps
    interior = slice(edge, -edge)
    snrs = {
        lag: snr_db(x[..., interior], torch.roll(y, -lag, dims=-1)[..., interior])
        for lag in range(-3, 4)
    }
    assert max(snrs, key=snrs.__getitem__) == 0
    assert snrs[0] >= 40.0


def test_pqmf_reconstructs_real_speech(dev_data) -> None:
    soundfile = pytest.importorskip("soundfile")
    audio, _ = soundfile.read(dev_data / "ljspeech" / "LJ001-0002.wav", dtype="float32")
    audio = audio[: len(audio) // 4 * 4]
    x = torch.from_numpy(np.ascontiguousarray(audio)).view(1, 1, -1)
    pqmf = PQMF()
    y = pqmf(x)
    assert snr_db(x, y) >= 40.0  # whole clip, edges included


def test_pqmf_rejects_bad_lengths_and_taps() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        PQMF().analysis(torch.randn(1, 1, 10))
    with pytest.raises(ValueError, match="even"):
        PQMF(taps=61)


@pytest.mark.parametrize("length", [1, 2, 3, 10])
def test_mirror_pad_matches_numpy_reflect(length: int) -> None:
    x = torch.randn(2, 3, length)
    for padding in (1, 3, 27):
        expected = np.pad(x.numpy(), ((0, 0), (0, 0), (padding, padding)), mode="reflect")
        np.testing.assert_array_equal(MirrorPad1d(padding)(x).numpy(), expected)
