"""BigVGAN generator: the published shapes and their exact parameter counts, output lengths,
receptive field, weight norm, the output bound, and the forward of NVIDIA's ``BigVGAN`` class
(bigvgan 2.4.1 from .refs/) on the same weights.

Full-size presets are built on the meta device: shapes and counts without memory or time.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from refs_helpers import require_reference

from audiogan.models import GENERATORS, build_generator
from audiogan.models.base import Generator
from audiogan.models.bigvgan import BIGVGAN_PRESETS, AMPBlock1, AMPBlock2, BigVGANGenerator
from audiogan.models.layers import has_weight_norm, load_folded_state_dict

#: The generator fields of NVIDIA/BigVGAN's configs/bigvgan_<name>.json (v2_ dropped from the
#: name), restated from the files: the presets must say the same.
_LARGE = {"upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
          "upsample_initial_channel": 1536}
_BASE = {"upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
         "upsample_initial_channel": 512}
_V2 = {"use_tanh_at_final": False, "use_bias_at_final": False}
CONFIGS: dict[str, dict[str, Any]] = {
    "22khz_80band_256x": {**_LARGE, **_V2, "num_mels": 80},
    "22khz_80band_fmax8k_256x": {**_LARGE, **_V2, "num_mels": 80},
    "24khz_100band_256x": {**_LARGE, **_V2, "num_mels": 100},
    "44khz_128band_256x": {**_LARGE, **_V2, "num_mels": 128},
    "44khz_128band_512x": {"upsample_rates": [8, 4, 2, 2, 2, 2],
                           "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4],
                           "upsample_initial_channel": 1536, **_V2, "num_mels": 128},
    "22khz_80band": {**_LARGE, "num_mels": 80},
    "24khz_100band": {**_LARGE, "num_mels": 100},
    "base_22khz_80band": {**_BASE, "num_mels": 80},
    "base_24khz_100band": {**_BASE, "num_mels": 100},
}
_AMP = {"resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "activation": "snakebeta", "snake_logscale": True}

#: Parameters of ``bigvgan.bigvgan.BigVGAN(config)`` (measured with bigvgan 2.4.1; weight norm's
#: g and v both counted, as in a training checkpoint). v1 keeps conv_post's bias: one more.
PARAMETERS = {
    "22khz_80band_256x": 112_231_249,
    "22khz_80band_fmax8k_256x": 112_231_249,
    "24khz_100band_256x": 112_446_289,
    "44khz_128band_256x": 112_747_345,
    "44khz_128band_512x": 122_184_529,
    "22khz_80band": 112_231_250,
    "24khz_100band": 112_446_290,
    "base_22khz_80band": 13_953_474,
    "base_24khz_100band": 14_025_154,
}

#: A small BigVGAN for forward passes: hop 16, 16 channels after the input conv.
SMALL: dict[str, Any] = {"preset": "base_22khz_80band", "in_channels": 8,
                         "upsample_rates": (4, 2, 2), "upsample_initial_channel": 16}


def small(**overrides: Any) -> BigVGANGenerator:
    torch.manual_seed(0)
    gen = build_generator("bigvgan", **{**SMALL, **overrides})
    assert isinstance(gen, BigVGANGenerator)
    return gen.eval()


def n_params(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _randomise_activations(gen: torch.nn.Module, seed: int = 1) -> None:
    """Snake parameters away from their initial value (all 1), so a test sees each channel's."""
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in gen.named_parameters():
            if name.endswith(("alpha", "beta")):
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=rng))


def test_registered_with_mel_input_kind() -> None:
    assert GENERATORS.get("bigvgan") is BigVGANGenerator
    assert BigVGANGenerator.input_kind == "mel"
    assert isinstance(small(), Generator)


def test_presets_say_what_the_published_configs_say() -> None:
    assert sorted(BIGVGAN_PRESETS) == sorted(CONFIGS)
    for name, config in CONFIGS.items():
        preset = BIGVGAN_PRESETS[name]
        expected = {**_AMP, "use_tanh_at_final": True, "use_bias_at_final": True, **config}
        for field, value in expected.items():
            got = getattr(preset, field)
            if field == "resblock_dilation_sizes":
                got = [list(d) for d in got]
            elif isinstance(got, tuple):
                got = list(got)
            assert got == value, (name, field)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_preset_has_the_reference_parameter_count_and_exact_lengths(name: str) -> None:
    with torch.device("meta"):
        gen = build_generator("bigvgan", preset=name)
        assert gen.in_channels == CONFIGS[name]["num_mels"]
        assert n_params(gen) == PARAMETERS[name]
        for frames in (1, 32):
            wave = gen(torch.empty(2, gen.in_channels, frames))
            assert wave.shape == (2, 1, frames * gen.hop_length)
    assert gen.hop_length == (512 if name.endswith("512x") else 256)


@pytest.fixture(scope="module")
def bigvgan_reference() -> SimpleNamespace:
    """The bigvgan package's ``BigVGAN`` class and its ``AttrDict`` (from .refs/)."""
    refs = require_reference("bigvgan/bigvgan.py", "the bigvgan 2.4.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    return SimpleNamespace(BigVGAN=BigVGAN, AttrDict=AttrDict)


@pytest.mark.filterwarnings("ignore:torch.nn.utils.weight_norm is deprecated")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parameter_count_equals_a_reference_instance(name: str,
                                                      bigvgan_reference: SimpleNamespace) -> None:
    hparams = bigvgan_reference.AttrDict({**_AMP, **CONFIGS[name]})
    with torch.device("meta"):
        reference = bigvgan_reference.BigVGAN(hparams, use_cuda_kernel=False)
        ours = build_generator("bigvgan", preset=name)
    assert n_params(ours) == n_params(reference) == PARAMETERS[name]


def _reference_small(bigvgan_reference: SimpleNamespace, **changes: Any) -> torch.nn.Module:
    fields = {**_AMP, "num_mels": 8, "upsample_rates": [4, 2, 2],
              "upsample_kernel_sizes": [8, 4, 4], "upsample_initial_channel": 16, **changes}
    torch.manual_seed(3)
    reference = bigvgan_reference.BigVGAN(bigvgan_reference.AttrDict(fields))
    _randomise_activations(reference, seed=4)
    return reference.eval()


_VARIANTS = [
    {},
    {"use_tanh_at_final": False, "use_bias_at_final": False},
    {"resblock": "2", "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 2], [2, 6]],
     "activation": "snake", "snake_logscale": False},
]


@pytest.mark.filterwarnings("ignore:torch.nn.utils.weight_norm is deprecated")
@pytest.mark.parametrize("changes", _VARIANTS, ids=["v1", "v2-clamp", "resblock2-snake"])
def test_output_equals_the_reference_forward_on_the_same_weights(
        changes: dict[str, Any], bigvgan_reference: SimpleNamespace) -> None:
    """NVIDIA's state dict (weight norm folded) loads into ours key for key, filters included."""
    reference = _reference_small(bigvgan_reference, **changes)
    ours = small(**{key: tuple(map(tuple, value)) if key == "resblock_dilation_sizes" else value
                    for key, value in changes.items()})
    fresh = ours.state_dict()
    reference.remove_weight_norm()
    state = reference.state_dict()
    for key in (k for k in state if k.endswith("filter")):
        torch.testing.assert_close(fresh[key], state[key], rtol=0, atol=1e-7)  # same design
    load_folded_state_dict(ours, state)  # strict: every key, nothing else
    mel = torch.randn(2, 8, 23, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = reference(mel)
        out = ours(mel)
    assert out.shape == expected.shape == (2, 1, 23 * 16)
    assert float((out - expected).abs().max()) <= 1e-4
    assert float(expected.abs().max()) > 0.05  # a signal, not all zeros


def test_state_dict_layout_is_nvidias() -> None:
    keys = set(small(weight_norm=False).state_dict())
    assert {"conv_pre.weight", "conv_pre.bias", "ups.0.0.weight", "ups.2.0.bias",
            "resblocks.0.convs1.2.weight", "resblocks.8.convs2.0.bias",
            "resblocks.0.activations.5.act.alpha", "resblocks.0.activations.5.act.beta",
            "resblocks.0.activations.0.upsample.filter",
            "resblocks.0.activations.0.downsample.lowpass.filter",
            "activation_post.act.alpha", "activation_post.upsample.filter",
            "activation_post.downsample.lowpass.filter", "conv_post.weight",
            "conv_post.bias"} <= keys
    assert "resblocks.9.convs1.0.weight" not in keys  # 3 stages x 3 blocks
    assert "conv_post.bias" not in small(use_bias_at_final=False).state_dict()


def test_gradients_reach_every_parameter() -> None:
    gen = small().train()
    gen(torch.randn(1, 8, 6)).pow(2).sum().backward()
    missing = [name for name, p in gen.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_remove_weight_norm_keeps_outputs_and_the_count() -> None:
    gen = small()
    _randomise_activations(gen)
    mel = torch.randn(1, 8, 12)
    with torch.no_grad():
        before = gen(mel)
    gen.remove_weight_norm()
    with torch.no_grad():
        after = gen(mel)
    assert not has_weight_norm(gen)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    assert n_params(gen) == n_params(small(weight_norm=False))


def test_final_bound_tanh_or_clamp() -> None:
    """v2 clamps conv_post's output to [-1, 1]; v1 applies tanh (never reaching +-1)."""
    mel = torch.randn(1, 8, 10)
    for tanh in (True, False):
        gen = small(use_tanh_at_final=tanh, weight_norm=False)
        with torch.no_grad():
            hidden = gen.activation_post(_trunk(gen, mel))
            scale = 3.0 / gen.conv_post(hidden).abs().max()  # the peak to 3 (tanh: 0.995)
            gen.conv_post.weight.mul_(scale)
            gen.conv_post.bias.mul_(scale)
            raw = gen.conv_post(hidden)
            out = gen(mel)
        assert raw.abs().max() > 1.5  # the bound matters
        expected = torch.tanh(raw) if tanh else raw.clamp(-1.0, 1.0)
        torch.testing.assert_close(out, expected)
        assert bool((out.abs() == 1.0).any()) is not tanh


def _trunk(gen: BigVGANGenerator, mel: torch.Tensor) -> torch.Tensor:
    """Everything before activation_post, written from the paper's description."""
    x = gen.conv_pre(mel)
    blocks = list(gen.resblocks)
    for i, stage in enumerate(gen.ups):
        x = stage[0](x)
        outs = [block(x) for block in blocks[i * gen.num_kernels:(i + 1) * gen.num_kernels]]
        x = sum(outs[1:], outs[0]) / len(outs)
    return x


@pytest.mark.parametrize(
    "overrides",
    [{}, {"resblock": "2", "resblock_kernel_sizes": (3, 5), "resblock_dilation_sizes": ((1, 2),
                                                                                       (2, 6))},
     {"upsample_rates": (3, 5), "upsample_kernel_sizes": (7, 9), "activation": "snake"}],
    ids=["amp1", "amp2", "odd-rates"],
)
def test_receptive_field_is_the_measured_influence(overrides: dict[str, Any]) -> None:
    """The gradient of frame ``f``'s samples w.r.t. the mel is non-zero exactly on the frames
    within ``receptive_field_frames``: the computed bound covers the influence and is tight."""
    gen = small(**overrides).double()
    _randomise_activations(gen)
    radius = gen.receptive_field_frames
    assert radius > 0
    frames = 2 * radius + 7
    frame = radius + 3
    mel = torch.randn(1, 8, frames, dtype=torch.float64, requires_grad=True)
    wave = gen(mel)
    hop = gen.hop_length
    wave[..., frame * hop:(frame + 1) * hop].sum().backward()
    assert mel.grad is not None
    influence = torch.nonzero(mel.grad.abs().amax(dim=(0, 1)) > 0).flatten()
    assert int((influence - frame).abs().max()) == radius
    with torch.no_grad():
        far = mel.detach().clone()
        far[..., :frame - radius] += 10.0
        far[..., frame + radius + 1:] -= 10.0
        window = slice(frame * hop, (frame + 1) * hop)
        torch.testing.assert_close(gen(far)[..., window], wave.detach()[..., window])


def test_amp_block_kinds_follow_resblock() -> None:
    assert all(isinstance(b, AMPBlock1) for b in small().resblocks)
    gen = small(resblock="2", resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3),))
    assert all(isinstance(b, AMPBlock2) for b in gen.resblocks) and len(gen.resblocks) == 3


def test_overrides_and_errors() -> None:
    gen = small(upsample_rates=(2, 3))
    assert gen.hop_length == 6 and gen.config.upsample_kernel_sizes == (4, 6)
    with pytest.raises(ValueError, match="unknown BigVGAN preset 'v9'.*44khz_128band_512x"):
        build_generator("bigvgan", preset="v9")
    with pytest.raises(ValueError, match="one entry per stage"):
        small(upsample_kernel_sizes=(8,))
    with pytest.raises(ValueError, match="must be odd"):
        small(resblock_kernel_sizes=(3, 4), resblock_dilation_sizes=((1,), (1,)))
    with pytest.raises(ValueError, match="'snake' or 'snakebeta'"):
        small(activation="relu")
    with pytest.raises(ValueError, match="cannot be halved"):
        small(upsample_initial_channel=4)
    with pytest.raises(TypeError):
        small(num_mels=80)


def test_a_small_bigvgan_overfits_a_fixed_batch() -> None:
    """Fixed mels -> a fixed two-tone clip: L1 on the wave + L1 on STFT magnitudes falls at
    least 4x in 60 Adam steps (measured: 6.8x; about 4 s on one CPU thread)."""
    gen = small().train()
    torch.manual_seed(1)
    mel = torch.randn(2, 8, 16)
    t = torch.arange(16 * 16, dtype=torch.float32)
    target = 0.5 * torch.sin(0.05 * t) + 0.2 * torch.sin(0.31 * t + 1.0)
    target = torch.stack([target, target.flip(-1)])[:, None]
    window = torch.hann_window(64)

    def loss_fn() -> torch.Tensor:
        out = gen(mel)
        spec = torch.stft(out[:, 0], 64, 16, window=window, return_complex=True).abs()
        ref = torch.stft(target[:, 0], 64, 16, window=window, return_complex=True).abs()
        return (out - target).abs().mean() + (spec - ref).abs().mean()

    optimizer = torch.optim.Adam(gen.parameters(), lr=3e-3)
    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
    with torch.no_grad():
        last = float(loss_fn())
    assert last < first / 4, (first, last)
