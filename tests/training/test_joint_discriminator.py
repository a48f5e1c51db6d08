"""training.joint_discriminator: one discriminator call on cat([real, fake]) gives the losses and
gradients of two calls, for every registered discriminator (none couples the samples of a
batch), in the D update (adversarial loss, D's gradients) and the G update (adversarial and
feature-matching terms, the gradient reaching the generated wave); and the whole GANStep with
the lever on equals the step without it."""

from __future__ import annotations

import copy

import pytest
import torch
from models.test_discriminators import TINY, _length

from audiogan.losses import LSGANLoss, feature_matching_loss
from audiogan.models import DISCRIMINATORS, build_discriminator
from audiogan.training.guard import score_pair, split_stateful_layers
from training.test_step import _batch, _config, _params, _step

NAMES = DISCRIMINATORS.names()
BATCH = 3


def _waves(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    length = _length(name)
    real = 0.3 * torch.randn(BATCH, 1, length, generator=g)
    fake = (0.3 * torch.randn(BATCH, 1, length, generator=g)).requires_grad_(True)
    return real, fake


def _d_update(model, real, fake, joint: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    real_out, fake_out = score_pair(model, real, fake.detach(), None, [11, 12, 13], joint=joint)
    loss = LSGANLoss().discriminator(real_out, fake_out)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _g_update(model, real, fake, joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    fake.grad = None
    real_out, fake_out = score_pair(model, real, fake, None, [11, 12, 13], joint=joint,
                                    real_grad=False, real_first=False)
    loss = LSGANLoss().generator(fake_out) + 2.0 * feature_matching_loss(real_out, fake_out)
    loss.backward()
    assert fake.grad is not None
    return loss.detach(), fake.grad.clone()


@pytest.mark.parametrize("name", NAMES)
def test_one_joint_call_equals_two_calls(name: str) -> None:
    torch.manual_seed(0)
    params, _ = TINY[name]
    two = build_discriminator(name, **params).train()  # train: phase shuffle, power iteration
    one = copy.deepcopy(two)  # the same state (spectral norm's u) for both
    split_stateful_layers(one)  # what GANStep does with the lever on
    real, fake = _waves(name)
    loss2, grads2 = _d_update(two, real, fake, joint=False)
    loss1, grads1 = _d_update(one, real, fake, joint=True)
    assert torch.isfinite(loss2) and len(grads1) == len(grads2) > 0
    assert torch.allclose(loss1, loss2, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads1, grads2, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), (a - b).abs().max()
    for model in (one, two):
        for p in model.parameters():
            p.requires_grad_(False)  # the G update: D frozen
    g_loss2, wave_grad2 = _g_update(two, real, fake, joint=False)
    g_loss1, wave_grad1 = _g_update(one, real, fake, joint=True)
    assert torch.allclose(g_loss1, g_loss2, rtol=1e-5, atol=1e-6)
    assert wave_grad2.abs().sum() > 0
    assert torch.allclose(wave_grad1, wave_grad2, rtol=1e-5, atol=1e-6)
    for a, b in zip(one.buffers(), two.buffers(), strict=True):  # e.g. spectral norm's u, v
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_the_split_spectral_norm_would_differ() -> None:
    """Why split_stateful_layers exists: MSD's spectral norm advances per call."""
    torch.manual_seed(0)
    two = build_discriminator("msd", **TINY["msd"][0]).train()
    one = copy.deepcopy(two)
    assert split_stateful_layers(copy.deepcopy(two)) > 0
    assert split_stateful_layers(build_discriminator("mpd", **TINY["mpd"][0])) == 0
    real, fake = _waves("msd")
    _, grads2 = _d_update(two, real, fake, joint=False)
    _, grads1 = _d_update(one, real, fake, joint=True)
    assert not all(torch.allclose(a, b, rtol=1e-5, atol=1e-6)
                   for a, b in zip(grads1, grads2, strict=True))


def test_joint_split_gives_real_then_fake_with_real_detached() -> None:
    model = build_discriminator("mpd", **TINY["mpd"][0])
    real, fake = _waves("mpd")
    real_out, fake_out = score_pair(model, real, fake, None, [1, 2, 3], joint=True,
                                    real_grad=False)
    alone = model(real)
    assert all(not t.requires_grad for t in real_out.logits)
    assert all(t.requires_grad for t in fake_out.logits)
    for a, b in zip(real_out.logits, alone.logits, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6)


def test_a_step_with_the_joint_call_equals_the_plain_step() -> None:
    stats, params = {}, {}
    for joint in (False, True):
        stepper = _step(_config(joint_discriminator=joint))
        stats[joint] = stepper([_batch(0)], step=0)
        stepper([_batch(1)], step=1)
        params[joint] = {**_params(stepper.generator), **_params(stepper.discriminator)}
    for key in ("d_loss", "g_loss", "g_feature_matching", "g_adversarial", "d_grad_norm"):
        assert stats[True][key] == pytest.approx(stats[False][key], rel=1e-5)
    for key, value in params[False].items():
        assert torch.allclose(params[True][key], value, rtol=1e-5, atol=1e-6), key
