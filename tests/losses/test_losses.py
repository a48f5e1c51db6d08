"""Tests for audiogan.losses: known values, signs, dtypes, and a real small overfit run."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from audiogan.features.mel import MelSpectrogram
from audiogan.losses import (
    ADVERSARIAL_LOSSES,
    MelLoss,
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    SubbandSTFTLoss,
    feature_matching_loss,
    gradient_penalty,
)
from audiogan.models import build_discriminator, build_generator
from audiogan.models.base import DiscriminatorOutput
from audiogan.models.pqmf import PQMF

SR = 22050


def _out(*logits: list[list[float]]) -> DiscriminatorOutput:
    return DiscriminatorOutput([torch.tensor(x) for x in logits], [[] for _ in logits])


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _speech_like(batch: int = 2, length: int = 8192, seed: int = 0) -> Tensor:
    """(batch, 1, length) harmonic signals plus a little noise, deterministic."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / SR
    f0 = torch.linspace(150.0, 260.0, batch).unsqueeze(1)
    wave = sum(0.3 / k * torch.sin(2 * math.pi * k * f0 * t) for k in range(1, 6))
    wave = wave + 0.01 * torch.randn(batch, length, generator=generator)
    return wave.unsqueeze(1)


# --------------------------------------------------------------------------- adversarial

# Two sub-discriminators: real logits R1, R2 and fake logits A, B.
REAL = _out([[1.0, 1.0]], [[0.5], [1.5]])
FAKE = _out([[0.0, 2.0]], [[1.0], [-1.0]])
EXPECTED: dict[str, tuple[float, float]] = {  # name: (generator, discriminator)
    # G: mean((A-1)^2) + mean((B-1)^2) = 1 + 2; D: 0 + mean(A^2) + 0.25 + mean(B^2) = 2 + 1.25.
    "lsgan": (3.0, 3.25),
    # G: -mean(A) - mean(B) = -1 - 0; D: 0 + (1 + 3)/2 + (0.5 + 0)/2 + (2 + 0)/2.
    "hinge": (-1.0, 3.25),
    "bce": (
        (_softplus(0.0) + _softplus(-2.0)) / 2 + (_softplus(-1.0) + _softplus(1.0)) / 2,
        _softplus(-1.0)
        + (_softplus(0.0) + _softplus(2.0)) / 2
        + (_softplus(-0.5) + _softplus(-1.5)) / 2
        + (_softplus(1.0) + _softplus(-1.0)) / 2,
    ),
    # G: -1 - 0; D: (mean(A) - mean(R1)) + (mean(B) - mean(R2)) = 0 + (0 - 1).
    "wgan_gp": (-1.0, -1.0),
}


def test_registry_names() -> None:
    assert ADVERSARIAL_LOSSES.names() == sorted(EXPECTED)
    flags = {name: ADVERSARIAL_LOSSES.build(name).needs_gradient_penalty for name in EXPECTED}
    assert flags == {"bce": False, "hinge": False, "lsgan": False, "wgan_gp": True}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adversarial_known_values(name: str) -> None:
    loss = ADVERSARIAL_LOSSES.build(name)
    expected_g, expected_d = EXPECTED[name]
    assert loss.generator(FAKE).item() == pytest.approx(expected_g, abs=1e-6)
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected_d, abs=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adversarial_signs(name: str) -> None:
    loss = ADVERSARIAL_LOSSES.build(name)
    # Generator loss falls as D(fake) moves toward the real target (1 for lsgan, up for all).
    values = [loss.generator(_out([[v, v]])).item() for v in (-2.0, -1.0, 0.0, 0.5, 1.0)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    # The discriminator loss is lower when it tells real (high) from fake (low).
    right = loss.discriminator(_out([[1.0, 1.0]]), _out([[-1.0, 0.0]])).item()
    wrong = loss.discriminator(_out([[-1.0, 0.0]]), _out([[1.0, 1.0]])).item()
    assert right < wrong


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adversarial_sums_over_sub_discriminators_and_promotes_to_float32(name: str) -> None:
    loss = ADVERSARIAL_LOSSES.build(name)
    parts = [_out(logit.tolist()) for logit in FAKE.logits]
    whole = loss.generator(FAKE)
    assert whole.item() == pytest.approx(sum(loss.generator(p).item() for p in parts), abs=1e-6)
    half = DiscriminatorOutput([x.bfloat16() for x in FAKE.logits], FAKE.features)
    assert loss.generator(half).dtype == torch.float32
    assert loss.discriminator(REAL, half).dtype == torch.float32
    with pytest.raises(ValueError, match="sub-discriminator"):
        loss.discriminator(REAL, parts[0])


# --------------------------------------------------------------------------- gradient penalty


class LinearCritic(nn.Module):
    """D(x) = <w, x>, optionally split over two sub-discriminators (w = w1 + w2)."""

    def __init__(self, w: Tensor, split: bool = False) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.split = split

    def forward(self, x: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        if not self.split:
            return DiscriminatorOutput([(x * self.w).sum(dim=(1, 2))], [[]])
        first = (x * 0.25 * self.w).sum(dim=(1, 2)).unsqueeze(1)
        second = (x * 0.75 * self.w).sum(dim=(1, 2)).unsqueeze(1)
        return DiscriminatorOutput([first, second], [[], []])


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize(("norm", "expected"), [(1.0, 0.0), (2.0, 10.0), (0.5, 2.5)])
def test_gradient_penalty_of_a_linear_critic(split: bool, norm: float, expected: float) -> None:
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(1, 1, 64, generator=generator)
    critic = LinearCritic(w / w.norm() * norm, split=split)
    real = torch.randn(3, 1, 64, generator=generator)
    fake = torch.randn(3, 1, 64, generator=generator)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.dtype == torch.float32
    assert penalty.item() == pytest.approx(expected, abs=1e-4)
    alpha = torch.full((3, 1, 1), 0.3)
    weighted = gradient_penalty(critic, real, fake, weight=1.0, alpha=alpha)
    assert weighted.item() == pytest.approx(expected / 10, abs=1e-5)


def test_gradient_penalty_trains_the_critic() -> None:
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||, = 10 w at ||w|| = 2: needs double backward.
    w = torch.randn(1, 1, 32)
    critic = LinearCritic(w / w.norm() * 2.0)
    penalty = gradient_penalty(critic, torch.randn(4, 1, 32), torch.randn(4, 1, 32))
    penalty.backward()
    torch.testing.assert_close(critic.w.grad, 10 * critic.w.detach(), rtol=1e-4, atol=1e-5)


def test_gradient_penalty_passes_labels_and_checks_shapes() -> None:
    seen: list[Tensor | None] = []

    class Recorder(LinearCritic):
        def forward(self, x: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
            seen.append(labels)
            return super().forward(x, labels)

    critic = Recorder(torch.ones(1, 1, 8))
    labels = torch.tensor([1, 2])
    gradient_penalty(critic, torch.randn(2, 1, 8), torch.randn(2, 1, 8), labels)
    assert seen[0] is labels
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(critic, torch.randn(2, 1, 8), torch.randn(2, 1, 9))


# --------------------------------------------------------------------------- feature matching


def _features(*maps: list[Tensor]) -> DiscriminatorOutput:
    return DiscriminatorOutput([torch.zeros(1, 1) for _ in maps], list(maps))


def test_feature_matching_known_values() -> None:
    real = _features([torch.ones(1, 2, 2), torch.tensor([[1.0, 2.0, 3.0]])], [torch.zeros(1, 4)])
    fake_maps = [torch.zeros(1, 2, 2), torch.tensor([[1.0, 1.0, 1.0]]), torch.full((1, 4), 2.0)]
    for fake_map in fake_maps:
        fake_map.requires_grad_(True)
    fake = _features(fake_maps[:2], fake_maps[2:])
    # Per map: mean |1 - 0| = 1, mean |(0, 1, 2)| = 1, mean |0 - 2| = 2.
    summed = feature_matching_loss(real, fake)
    assert summed.item() == pytest.approx(4.0)
    assert feature_matching_loss(real, fake, reduction="mean").item() == pytest.approx(4.0 / 3)
    summed.backward()
    assert all(m.grad is not None for m in fake_maps)
    torch.testing.assert_close(fake_maps[2].grad, torch.full((1, 4), 0.25))
    with pytest.raises(ValueError, match="reduction"):
        feature_matching_loss(real, fake, reduction="max")


def test_feature_matching_detaches_real_and_promotes_to_float32() -> None:
    real_map = torch.ones(1, 3, requires_grad=True)
    fake_map = torch.zeros(1, 3, requires_grad=True)
    loss = feature_matching_loss(_features([real_map]), _features([fake_map.bfloat16()]))
    assert loss.dtype == torch.float32
    loss.backward()
    assert real_map.grad is None and fake_map.grad is not None
    with pytest.raises(ValueError, match="feature maps"):
        feature_matching_loss(_features([real_map, real_map]), _features([fake_map]))


# --------------------------------------------------------------------------- spectral


def test_mel_loss_zero_for_identical_and_grows_with_noise() -> None:
    loss = MelLoss(sample_rate=SR)
    real = _speech_like()
    assert loss(real, real).item() == 0.0
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(real.shape, generator=generator)
    values = [loss(real + level * noise, real).item() for level in (0.001, 0.01, 0.1, 0.5)]
    assert all(0 < a < b for a, b in zip(values, values[1:])), values


def test_mel_loss_is_l1_between_log_mels_up_to_nyquist() -> None:
    loss = MelLoss(sample_rate=SR)
    assert loss.mel.spec.f_max_hz == SR / 2
    real, fake = _speech_like(), _speech_like(seed=3) * 0.5
    reference = MelSpectrogram("hifigan", sample_rate=SR, f_max=None)
    expected = (reference(fake.squeeze(1)) - reference(real.squeeze(1))).abs().mean()
    torch.testing.assert_close(loss(fake, real), expected)
    assert MelLoss(sample_rate=SR, f_max=8000.0).mel.spec.f_max_hz == 8000.0


def test_multi_resolution_mel_loss_averages_or_sums() -> None:
    resolutions = ((512, 128, 512, 40), (1024, 256, 1024, 80))
    real = _speech_like()
    fake = real + 0.05 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))
    singles = [
        MelLoss(sample_rate=SR, n_fft=n, hop_length=h, win_length=w, n_mels=m)(fake, real)
        for n, h, w, m in resolutions
    ]
    mean = MultiResolutionMelLoss(sample_rate=SR, resolutions=resolutions)
    total = MultiResolutionMelLoss(sample_rate=SR, resolutions=resolutions, reduction="sum")
    torch.testing.assert_close(mean(fake, real), sum(singles) / 2)
    torch.testing.assert_close(total(fake, real), sum(singles))
    assert mean(real, real).item() == 0.0


def test_multi_resolution_stft_known_properties() -> None:
    loss = MultiResolutionSTFTLoss()
    real = torch.randn(2, 1, 8192, generator=torch.Generator().manual_seed(0))
    assert loss(real, real).item() == pytest.approx(0.0, abs=1e-7)
    # Halving the signal: ||Y - Y/2|| / ||Y|| = 1/2 and |log Y - log(Y/2)| = log 2 everywhere.
    convergence, log_magnitude = loss.components(0.5 * real, real)
    assert convergence.item() == pytest.approx(0.5, abs=1e-4)
    assert log_magnitude.item() == pytest.approx(math.log(2.0), abs=1e-3)
    assert loss(0.5 * real, real).item() == pytest.approx(0.5 + math.log(2.0), abs=1e-3)
    # Spectral convergence is normalised by the target: doubling is 1, not 1/2.
    convergence, log_magnitude = loss.components(2.0 * real, real)
    assert convergence.item() == pytest.approx(1.0, abs=1e-4)
    assert log_magnitude.item() == pytest.approx(math.log(2.0), abs=1e-3)
    # Mean over resolutions: a single resolution's value is the same here.
    single = MultiResolutionSTFTLoss(fft_sizes=(512,), hop_sizes=(50,), win_lengths=(240,))
    assert single(0.5 * real, real).item() == pytest.approx(0.5 + math.log(2.0), abs=1e-3)
    # Grows with noise, and trains the generated signal.
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    values = [loss(real + level * noise, real).item() for level in (0.01, 0.1, 1.0)]
    assert values[0] < values[1] < values[2]
    fake = (real + 0.1 * noise).requires_grad_(True)
    loss(fake, real).backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()


def test_subband_stft_loss() -> None:
    pqmf = PQMF()
    loss = SubbandSTFTLoss(pqmf=pqmf)
    real = torch.randn(2, 1, 8192, generator=torch.Generator().manual_seed(0))
    bands = pqmf.analysis(real)
    assert loss(bands, real).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(0.5 * bands, real).item() == pytest.approx(0.5 + math.log(2.0), abs=2e-3)
    fake = (bands + 0.1 * torch.randn_like(bands)).requires_grad_(True)
    value = loss(fake, real)
    assert value > 0
    value.backward()
    assert fake.grad is not None
    with pytest.raises(ValueError, match="sub-bands"):
        loss(bands[:, :2], real)


def test_losses_return_float32_under_bf16_autocast() -> None:
    real = _speech_like()
    pqmf = PQMF()
    fake_out = DiscriminatorOutput([torch.randn(2, 5)], [[torch.randn(2, 3, 4)]])
    real_out = DiscriminatorOutput([torch.randn(2, 5)], [[torch.randn(2, 3, 4)]])
    critic = build_discriminator("msd", scales=1, channels=(4,) * 7, groups=(1,) * 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = real.bfloat16() + 0.01
        values: dict[str, Any] = {
            "mel": MelLoss(sample_rate=SR)(fake, real),
            "multi_mel": MultiResolutionMelLoss(sample_rate=SR)(fake, real),
            "mr_stft": MultiResolutionSTFTLoss()(fake, real),
            "subband": SubbandSTFTLoss(pqmf=pqmf)(pqmf.analysis(real).bfloat16(), real),
            "feature_matching": feature_matching_loss(real_out, fake_out),
            "penalty": gradient_penalty(critic, real, fake.float()),
        }
        for name in ADVERSARIAL_LOSSES.names():
            adversarial = ADVERSARIAL_LOSSES.build(name)
            values[f"{name}_g"] = adversarial.generator(fake_out)
            values[f"{name}_d"] = adversarial.discriminator(real_out, fake_out)
    for name, value in values.items():
        assert value.dtype == torch.float32, name
        assert value.ndim == 0 and torch.isfinite(value), name


# --------------------------------------------------------------------------- overfit

WEIGHTS = {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}  # HiFi-GAN's


def _tiny_gan() -> tuple[nn.Module, nn.Module]:
    gen = build_generator("hifigan", preset="v1", upsample_initial_channel=32)
    disc = build_discriminator(
        "combined",
        periods=[2, 3],
        scales=2,
        mpd_params={"channels": (4, 8, 16, 16, 16)},
        msd_params={"channels": (8, 8, 16, 16, 16, 16, 16), "groups": (1, 2, 4, 4, 4, 4, 1)},
    )
    return gen, disc


def _gan_step(
    gen: nn.Module,
    disc: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    mel: Tensor,
    wave: Tensor,
    mel_loss: MelLoss,
) -> float:
    """One HiFi-GAN style step (D, then G); returns the step's mel loss."""
    adversarial = ADVERSARIAL_LOSSES.build("lsgan")
    fake = gen(mel)
    loss_d = adversarial.discriminator(disc(wave), disc(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    real_out, fake_out = disc(wave), disc(fake)
    parts = {
        "adversarial": adversarial.generator(fake_out),
        "feature_matching": feature_matching_loss(real_out, fake_out),
        "mel": mel_loss(fake, wave),
    }
    total = sum(w * parts[k] for k, w in WEIGHTS.items())
    opt_g.zero_grad()
    total.backward()
    opt_g.step()
    return parts["mel"].item()


def _optimisers(
    gen: nn.Module, disc: nn.Module, lr: float
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return (
        torch.optim.AdamW(gen.parameters(), lr=lr, betas=(0.8, 0.99)),
        torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.8, 0.99)),
    )


def test_one_training_step_changes_generator_and_discriminator() -> None:
    torch.manual_seed(0)
    gen, disc = _tiny_gan()
    wave = _speech_like(length=4096)
    mel = MelSpectrogram("hifigan")(wave.squeeze(1))
    before = {
        f"{kind}.{name}": p.detach().clone()
        for kind, model in (("g", gen), ("d", disc))
        for name, p in model.named_parameters()
    }
    opt_g, opt_d = _optimisers(gen, disc, lr=2e-4)
    _gan_step(gen, disc, opt_g, opt_d, mel, wave, MelLoss(sample_rate=SR))
    after = {
        f"{kind}.{name}": p.detach()
        for kind, model in (("g", gen), ("d", disc))
        for name, p in model.named_parameters()
    }
    unchanged = [name for name, value in before.items() if torch.equal(value, after[name])]
    assert not unchanged


def test_tiny_hifigan_overfits_a_fixed_batch() -> None:
    """20 real GAN steps (lsgan + feature matching + mel, HiFi-GAN weights) lower the mel loss."""
    torch.manual_seed(0)
    gen, disc = _tiny_gan()
    wave = _speech_like(length=8192)
    mel = MelSpectrogram("hifigan")(wave.squeeze(1))
    mel_loss = MelLoss(sample_rate=SR)
    opt_g, opt_d = _optimisers(gen, disc, lr=2e-3)
    history = [_gan_step(gen, disc, opt_g, opt_d, mel, wave, mel_loss) for _ in range(20)]
    with torch.no_grad():
        final = mel_loss(gen(mel), wave).item()
    assert all(math.isfinite(value) for value in history)
    assert final <= 0.8 * history[0], (history, final)
