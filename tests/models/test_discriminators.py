"""Tests for audiogan.models.discriminators, parametrised over the DISCRIMINATORS registry."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from audiogan.losses import gradient_penalty
from audiogan.models import DISCRIMINATORS, build_discriminator
from audiogan.models.base import DiscriminatorOutput
from audiogan.models.layers import has_weight_norm
from audiogan.models.wavegan_discriminator import phase_shuffle

TINY_MPD: dict[str, Any] = {"channels": (4, 8, 16, 16, 16)}
TINY_MSD: dict[str, Any] = {"channels": (8, 8, 16, 16, 16, 16, 16), "groups": (1, 2, 4, 4, 4, 4, 1)}
TINY_MRD: dict[str, Any] = {"channels": 4}

# Tiny versions of every registered discriminator: (params, number of sub-discriminators).
TINY: dict[str, tuple[dict[str, Any], int]] = {
    "mpd": ({"periods": (2, 3, 5, 7, 11), **TINY_MPD}, 5),
    "msd": ({"scales": 3, **TINY_MSD}, 3),
    "mrd": ({"resolutions": ((128, 32, 128), (256, 64, 256), (512, 128, 256)), **TINY_MRD}, 3),
    "combined": (
        {
            "periods": [2, 3],
            "scales": 2,
            "resolutions": [[128, 32, 128]],
            "mpd_params": TINY_MPD,
            "msd_params": TINY_MSD,
            "mrd_params": TINY_MRD,
        },
        5,
    ),
    "wavegan": ({"model_size": 2}, 1),
    "melgan_msd": ({"scales": 2, "channels": 4, "downsample_scales": (2, 2), "max_channels": 16},
                   2),
    "cqtd": ({"sample_rate": 8000, "hop_lengths": (64, 32), "n_octaves": (4, 4),
              "bins_per_octaves": (8, 12), "filters": 4, "max_filters": 16}, 2),
    "parallel_wavegan": ({"layers": 4, "channels": 8}, 1),
    "residual_parallel_wavegan": ({"layers": 4, "stacks": 2, "residual_channels": 8,
                                   "gate_channels": 8, "skip_channels": 8}, 1),
}
# Discriminators that score every sample keep the channel axis: logits (B, 1, T).
PER_SAMPLE = {"parallel_wavegan", "residual_parallel_wavegan"}
NAMES = DISCRIMINATORS.names() or sorted(TINY)


def _length(name: str) -> int:
    return 16384 if name == "wavegan" else 3001  # 3001: not a multiple of any period


def _build(name: str, **overrides: Any) -> torch.nn.Module:
    params, _ = TINY[name]
    return build_discriminator(name, **{**params, **overrides})


def test_every_registered_discriminator_has_a_tiny_config() -> None:
    build_discriminator("mpd", **TINY["mpd"][0])  # imports the module, filling the registry
    assert set(DISCRIMINATORS.names()) == set(TINY)


@pytest.mark.parametrize("name", NAMES)
def test_output_structure(name: str) -> None:
    torch.manual_seed(0)
    disc = _build(name)
    _, count = TINY[name]
    wave = torch.randn(2, 1, _length(name))
    out = disc(wave)
    assert isinstance(out, DiscriminatorOutput)
    assert len(out.logits) == len(out.features) == len(disc.names) == count
    assert len(set(disc.names)) == count
    for logits, features in zip(out.logits, out.features):
        assert logits.dim() == (3 if name in PER_SAMPLE else 2) and logits.size(0) == 2
        assert torch.isfinite(logits).all()
        assert len(features) >= 3
        for feature in features:
            assert feature.size(0) == 2 and torch.isfinite(feature).all()
    # (B, T) input is accepted too and means the same thing.
    disc.eval()
    a, b = disc(wave), disc(wave.squeeze(1))
    for x, y in zip(a.logits, b.logits):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    disc = _build(name)
    wave = torch.randn(2, 1, _length(name), requires_grad=True)
    out = disc(wave)
    loss = sum(logit.pow(2).mean() for logit in out.logits)
    loss = loss + sum(f.pow(2).mean() for features in out.features for f in features)
    loss.backward()
    for param_name, param in disc.named_parameters():
        assert param.grad is not None, f"no gradient for {param_name}"
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, f"zero gradient for {param_name}"
    assert wave.grad is not None and wave.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_the_logits_alone_reach_every_parameter(name: str) -> None:
    """The discriminator's own loss reads only the logits; under DDP a parameter they do not
    reach stops a multi-GPU run at its second step ("Expected to have finished reduction")."""
    torch.manual_seed(0)
    disc = _build(name)
    out = disc(torch.randn(2, 1, _length(name)))
    sum(logit.pow(2).mean() for logit in out.logits).backward()
    for param_name, param in disc.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", ["mpd", "msd", "mrd", "combined"])
def test_remove_weight_norm_keeps_outputs(name: str) -> None:
    torch.manual_seed(0)
    disc = _build(name).eval()
    wave = torch.randn(1, 1, 3001)
    before = disc(wave)
    assert has_weight_norm(disc)
    disc.remove_weight_norm()
    assert not has_weight_norm(disc)
    after = disc(wave)
    for x, y in zip(before.logits, after.logits):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [2999, 3000, 3001, 3002, 3005, 3007, 3011])
def test_mpd_pads_lengths_that_are_not_multiples_of_the_period(length: int) -> None:
    disc = _build("mpd")
    out = disc(torch.randn(2, 1, length))
    for period, features in zip((2, 3, 5, 7, 11), out.features):
        rows = math.ceil(length / period)
        first = features[0]
        assert first.shape[-1] == period
        assert first.shape[-2] == (rows - 1) // 3 + 1  # kernel 5, stride 3, padding 2


def test_default_sizes_match_hifigan() -> None:
    counts = {
        name: sum(p.numel() for p in build_discriminator(name).parameters())
        for name in ("mpd", "msd")
    }
    # HiFi-GAN's MPD and MSD: 41.1M and 29.6M parameters.
    assert counts["mpd"] == pytest.approx(41.1e6, rel=0.01)
    assert counts["msd"] == pytest.approx(29.6e6, rel=0.01)


def test_msd_uses_spectral_norm_on_the_first_scale_only() -> None:
    disc = _build("msd")
    kinds = [
        {
            type(p).__name__
            for m in sub.modules()
            if hasattr(m, "parametrizations")
            for p in m.parametrizations.weight
        }
        for sub in disc.discriminators
    ]
    assert kinds[0] == {"_SpectralNorm"}
    assert all(kind == {"_WeightNorm"} for kind in kinds[1:])


def test_mrd_spectrogram_is_float32_under_autocast() -> None:
    disc = _build("mrd")
    wave = torch.randn(2, 1, 3001)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spec = disc.discriminators[0].spectrogram(wave.bfloat16())
        out = disc(wave)
    assert spec.dtype == torch.float32
    assert spec.shape == (2, 1, 3001 // 32, 128 // 2 + 1)
    assert all(torch.isfinite(logit.float()).all() for logit in out.logits)
    with pytest.raises(ValueError, match="samples"):
        disc(torch.randn(1, 1, 150))  # reflect padding of (512 - 128) / 2 needs > 192


def test_combined_names_order_and_skipping() -> None:
    params, _ = TINY["combined"]
    disc = build_discriminator("combined", **params)
    assert disc.names == ["mpd_p2", "mpd_p3", "msd_s0", "msd_s1", "mrd_128_32_128"]
    only_msd = build_discriminator(
        "combined", periods=[], scales=1, resolutions=None, msd_params=TINY_MSD
    )
    assert only_msd.names == ["msd_s0"]
    only_mpd = build_discriminator("combined", periods=[5], scales=0, mpd_params=TINY_MPD)
    assert only_mpd.names == ["mpd_p5"]
    with pytest.raises(ValueError, match="empty"):
        build_discriminator("combined", periods=None, scales=0, resolutions=[])


def test_combined_concatenates_its_parts_outputs() -> None:
    torch.manual_seed(0)
    disc = _build("combined").eval()
    wave = torch.randn(2, 1, 3001)
    out = disc(wave)
    parts = [part(wave) for part in disc.parts]
    expected = [logit for part in parts for logit in part.logits]
    assert len(out.logits) == len(expected)
    for x, y in zip(out.logits, expected):
        torch.testing.assert_close(x, y)


# --------------------------------------------------------------------------- WaveGAN


def _reflect_shift(row: torch.Tensor, shift: int) -> torch.Tensor:
    """Reference: (C, T) shifted right by ``shift`` with reflect padding, pad-then-crop."""
    length = row.size(-1)
    if shift >= 0:
        return F.pad(row.unsqueeze(0), (shift, 0), mode="reflect")[0, :, :length]
    return F.pad(row.unsqueeze(0), (0, -shift), mode="reflect")[0, :, -shift:]


def test_phase_shuffle_shifts_each_example_within_the_radius() -> None:
    x = torch.randn(64, 3, 20)
    out = phase_shuffle(x, 2, torch.Generator().manual_seed(0))
    seen = set()
    for row_in, row_out in zip(x, out):
        matches = [k for k in range(-2, 3) if torch.equal(_reflect_shift(row_in, k), row_out)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {-2, -1, 0, 1, 2}  # per example, every shift occurs
    assert torch.equal(phase_shuffle(x, 0), x)
    again = phase_shuffle(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_wavegan_phase_shuffle_only_in_training() -> None:
    torch.manual_seed(0)
    disc = _build("wavegan")
    wave = torch.randn(4, 1, 16384)
    disc.eval()
    first, second = disc(wave), disc(wave)
    assert torch.equal(first.logits[0], second.logits[0])
    disc.train()
    a = disc(wave, generator=torch.Generator().manual_seed(1))
    b = disc(wave, generator=torch.Generator().manual_seed(1))
    c = disc(wave, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.logits[0], b.logits[0])
    assert not torch.equal(a.logits[0], c.logits[0])
    # The first feature map is taken before any shuffle: identical in eval and train.
    torch.testing.assert_close(a.features[0][0], first.features[0][0])


def test_wavegan_shapes_and_lengths() -> None:
    disc = _build("wavegan")
    out = disc(torch.randn(2, 1, 16384))
    assert out.logits[0].shape == (2, 1)
    assert [f.shape[1:] for f in out.features[0]] == [
        (2, 4096),
        (4, 1024),
        (8, 256),
        (16, 64),
        (32, 16),
    ]
    for slice_len, stride in ((32768, 2), (65536, 4)):
        longer = _build("wavegan", slice_len=slice_len)
        features = longer(torch.randn(1, 1, slice_len)).features[0]
        assert len(features) == 6
        assert features[-1].shape[1:] == (64, 16)
        assert features[-2].shape[-1] == 16 * stride
    with pytest.raises(ValueError, match="16384"):
        disc(torch.randn(2, 1, 16000))
    with pytest.raises(ValueError, match="slice_len"):
        _build("wavegan", slice_len=8000)
    full = build_discriminator("wavegan")
    assert full.convs[-1].out_channels == 1024 and full.dense.in_features == 16384


def test_conditional_wavegan_uses_labels() -> None:
    torch.manual_seed(0)
    disc = _build("wavegan", num_classes=10).eval()
    wave = torch.randn(2, 1, 16384)
    with pytest.raises(ValueError, match="labels"):
        disc(wave)
    zeros = disc(wave, torch.tensor([0, 0])).logits[0]
    other = disc(wave, torch.tensor([3, 7])).logits[0]
    assert not torch.allclose(zeros, other)
    # Projection: the label only adds <embed(y), h> to the unconditional logit.
    h = disc(wave, torch.tensor([0, 0])).features[0][-1].flatten(1)
    expected = disc.dense(h) + (disc.embedding(torch.tensor([3, 7])) * h).sum(1, keepdim=True)
    torch.testing.assert_close(other, expected)
    disc.train()
    disc(wave, torch.tensor([1, 2])).logits[0].sum().backward()
    assert disc.embedding.weight.grad is not None
    assert disc.embedding.weight.grad[[1, 2]].abs().sum() > 0
    assert disc.embedding.weight.grad[0].abs().sum() == 0


@pytest.mark.parametrize("num_classes", [0, 4])
def test_wavegan_double_backward_for_gradient_penalty(num_classes: int) -> None:
    torch.manual_seed(0)
    disc = _build("wavegan", num_classes=num_classes).train()
    real, fake = torch.randn(2, 1, 16384), torch.randn(2, 1, 16384)
    labels = torch.tensor([1, 3]) if num_classes else None
    penalty = gradient_penalty(disc, real, fake, labels)
    assert penalty.ndim == 0 and torch.isfinite(penalty) and penalty > 0
    penalty.backward()
    for param_name, param in disc.named_parameters():
        if param_name.startswith("embedding") or param_name.endswith("bias"):
            continue  # biases do not move the input gradient; embedding: only the used rows
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


def test_phase_shuffle_keyed_by_sample_is_independent_of_batch_split() -> None:
    from audiogan.models.layers import sample_keys
    from audiogan.models.wavegan_discriminator import phase_shuffle

    x = torch.randn(4, 3, 50)
    keys = [11, 22, 33, 44]
    with sample_keys(keys):
        whole = phase_shuffle(x, 2, salt=1)
    with sample_keys(keys[:2]):
        first = phase_shuffle(x[:2], 2, salt=1)
    with sample_keys(keys[2:]):
        second = phase_shuffle(x[2:], 2, salt=1)
    assert torch.equal(whole, torch.cat([first, second]))
    shifted = [int((whole[b, 0, 10:40] == x[b, 0, 10 - k:40 - k]).all()) for b in range(4)
               for k in range(-2, 3)]
    assert sum(shifted) == 4  # each example got exactly one shift in [-2, 2]


@pytest.mark.parametrize(("name", "prefix"), [("msd", "msd"), ("melgan_msd", "melgan")])
def test_pooled_scales_discriminators(name: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="scales must be >= 1, got 0"):
        build_discriminator(name, scales=0)
    discriminator = build_discriminator(name, scales=2)
    assert discriminator.names == [f"{prefix}_s0", f"{prefix}_s1"]
    output = discriminator(torch.randn(2, 1, 4096))
    assert len(output.logits) == len(output.features) == 2
    # the second scale sees the signal pooled once: about half as many frames
    first, second = (logit.shape[-1] for logit in output.logits)
    assert output.logits[0].shape[0] == 2 and abs(first / second - 2) < 0.1
