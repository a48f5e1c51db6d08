"""GANStep on its own: which model each update moves, gradient accumulation, the adversarial
start, non-finite losses and EMA, with a one-layer generator and discriminator built here."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import Tensor, nn

from audiogan.config import Config, config_from_dict
from audiogan.config.build import loss_terms_from_config
from audiogan.models.base import Discriminator, DiscriminatorOutput
from audiogan.training.components import EMA
from audiogan.training.distributed import DistContext
from audiogan.training.step import GANStep

N_MELS, HOP, FRAMES, BATCH = 8, 64, 16, 4


class TinyVocoder(nn.Module):
    """Mel (B, N_MELS, F) -> wave (B, 1, F * HOP) through one 1x1 convolution."""

    input_kind = "mel"
    hop_length = HOP
    num_classes = 0

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv1d(N_MELS, HOP, 1)

    def forward(self, mel: Tensor) -> Tensor:
        frames = self.proj(mel)  # (B, HOP, F)
        return torch.tanh(frames.transpose(1, 2).reshape(mel.shape[0], 1, -1))


class TinyDiscriminator(nn.Module):
    """Wave (B, 1, T) -> one sub-discriminator: a feature map and a logit map."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv1d(1, 2, 5, stride=4)
        self.head = nn.Conv1d(2, 1, 3)

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        h = torch.relu(self.body(wave))
        return DiscriminatorOutput([self.head(h)], [[h]])


def _config(**training) -> Config:
    return config_from_dict({
        # GANStep reads only loss and training; the named models are not built here
        "generator": {"name": "hifigan", "params": {}},
        "discriminator": {"name": "combined", "params": {}},
        "loss": {"adversarial": "lsgan",
                 "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}},
        "training": {"batch_size": BATCH, "seed": 5, **training},
    }, check_models=False)


def _batch(seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "wave": 0.3 * torch.randn(BATCH, 1, FRAMES * HOP, generator=g),
        "mel": torch.randn(BATCH, N_MELS, FRAMES, generator=g),
        "index": torch.arange(BATCH) + 10 * seed,
    }


def _step(config: Config, *, ema_decay: float | None = None, hook=None,
          models: tuple[nn.Module, nn.Module] | None = None) -> GANStep:
    torch.manual_seed(0)
    gen, disc = models if models is not None else (TinyVocoder(), TinyDiscriminator())
    losses = loss_terms_from_config(config)
    return GANStep(
        config=config, generator=gen, discriminator=disc, g_model=gen, d_model=disc,
        features=nn.Identity(), losses=losses,
        opt_g=torch.optim.SGD(gen.parameters(), lr=0.05),
        opt_d=torch.optim.SGD(disc.parameters(), lr=0.05),
        scaler_g=torch.amp.GradScaler("cpu", enabled=False),
        scaler_d=torch.amp.GradScaler("cpu", enabled=False),
        ema=EMA.of(gen, ema_decay) if ema_decay is not None else None,
        dist=DistContext(), device=torch.device("cpu"), local_batch=BATCH, amp_dtype=None,
        on_gradients=hook,
    )


def _params(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _same(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_d_update_moves_only_d_and_g_update_only_g() -> None:
    seen: dict[str, dict] = {}

    def hook(part: str, step: int, model: nn.Module) -> None:
        # called between backward and the optimiser step of each part
        seen[part] = {"g": _params(stepper.generator), "d": _params(stepper.discriminator),
                      "g_grads": [p.grad for p in stepper.generator.parameters()],
                      "d_grads": [p.grad for p in stepper.discriminator.parameters()]}

    stepper = _step(_config(), hook=hook)
    g0, d0 = _params(stepper.generator), _params(stepper.discriminator)
    stats = stepper([_batch()], step=0)

    assert list(seen) == ["discriminator", "generator"]
    # D's update: G has no gradient and is untouched when D's optimiser steps
    assert all(g is None for g in seen["discriminator"]["g_grads"])
    assert all(g is not None for g in seen["discriminator"]["d_grads"])
    assert _same(seen["discriminator"]["g"], g0)
    # G's update: D (already stepped once) gets no gradient and does not move again
    assert all(g is None for g in seen["generator"]["d_grads"])
    d1 = seen["generator"]["d"]
    assert not _same(d1, d0)
    assert _same(_params(stepper.discriminator), d1)
    assert not _same(_params(stepper.generator), g0)
    assert stats["nonfinite"] == 0.0 and math.isfinite(stats["d_loss"])
    # D trainable again after G's update
    assert all(p.requires_grad for p in stepper.discriminator.parameters())


def test_before_the_discriminator_starts_only_g_moves() -> None:
    stepper = _step(_config(discriminator_start_step=3))
    d0 = _params(stepper.discriminator)
    stats = stepper([_batch()], step=2)
    assert _same(_params(stepper.discriminator), d0)
    assert "d_loss" not in stats and "g_adversarial" not in stats
    assert stats["g_loss"] == pytest.approx(45.0 * stats["g_mel"], rel=1e-6)


def test_n_critic_batches_give_one_d_update_each_then_one_g_update() -> None:
    calls: list[str] = []
    stepper = _step(_config(n_critic=3), hook=lambda part, step, model: calls.append(part))
    stepper([_batch(0), _batch(1), _batch(2)], step=0)
    assert calls == ["discriminator"] * 3 + ["generator"]


@pytest.mark.parametrize("accumulation", [2, 4])
def test_gradient_accumulation_equals_one_step_on_the_whole_batch(accumulation: int) -> None:
    grads: dict[int, dict[str, list[Tensor]]] = {}

    def recorder(k: int):
        def hook(part: str, step: int, model: nn.Module) -> None:
            grads.setdefault(k, {})[part] = [p.grad.clone() for p in model.parameters()]
        return hook

    torch.manual_seed(0)
    models = (TinyVocoder(), TinyDiscriminator())
    whole = _step(_config(), hook=recorder(1), models=copy.deepcopy(models))
    split = _step(_config(grad_accumulation=accumulation), hook=recorder(accumulation),
                  models=copy.deepcopy(models))
    batch = _batch(3)
    a = whole([batch], step=0)
    b = split([batch], step=0)

    for part in ("discriminator", "generator"):
        for ga, gb in zip(grads[1][part], grads[accumulation][part], strict=True):
            torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-6)
    for key in ("d_loss", "g_loss", "g_mel", "g_adversarial", "g_feature_matching"):
        assert b[key] == pytest.approx(a[key], rel=1e-5), key
    for mine, theirs in ((whole.generator, split.generator),
                         (whole.discriminator, split.discriminator)):
        for pa, pb in zip(mine.parameters(), theirs.parameters(), strict=True):
            torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-7)


def test_no_adversarial_term_before_the_adversarial_start() -> None:
    stepper = _step(_config(discriminator_start_step=0, adversarial_start_step=2))
    d0 = _params(stepper.discriminator)
    early = stepper([_batch()], step=1)
    # the discriminator already trains ...
    assert "d_loss" in early and not _same(_params(stepper.discriminator), d0)
    # ... but G's loss is the reconstruction term alone
    assert "g_adversarial" not in early and "g_feature_matching" not in early
    assert early["g_loss"] == pytest.approx(45.0 * early["g_mel"], rel=1e-6)

    late = stepper([_batch()], step=2)
    assert {"g_adversarial", "g_feature_matching", "g_mel"} <= set(late)
    expected = 45.0 * late["g_mel"] + late["g_adversarial"] + 2.0 * late["g_feature_matching"]
    assert late["g_loss"] == pytest.approx(expected, rel=1e-6)
    assert late["g_adversarial"] > 0.0


def test_a_nonfinite_loss_skips_both_updates_and_flags_the_step() -> None:
    stepper = _step(_config(), ema_decay=0.5)
    g0, d0 = _params(stepper.generator), _params(stepper.discriminator)
    shadow0 = {k: v.clone() for k, v in stepper.ema.shadow.items()}
    batch = _batch()
    batch["mel"][0, 0, 0] = float("nan")  # poisons G's output, hence D's and G's losses

    stats = stepper([batch], step=0)

    assert stats["nonfinite"] == 1.0
    assert math.isnan(stats["d_grad_norm"]) and math.isnan(stats["g_grad_norm"])
    assert not math.isfinite(stats["g_loss"])
    assert _same(_params(stepper.generator), g0)
    assert _same(_params(stepper.discriminator), d0)
    assert all(p.grad is None for p in stepper.generator.parameters())
    assert all(p.grad is None for p in stepper.discriminator.parameters())
    # the EMA is not fed a skipped update
    assert all(torch.equal(stepper.ema.shadow[k], shadow0[k]) for k in shadow0)

    # the next finite batch trains normally
    assert stepper([_batch(1)], step=1)["nonfinite"] == 0.0
    assert not _same(_params(stepper.generator), g0)


def test_ema_follows_the_generator_after_each_good_step() -> None:
    stepper = _step(_config(), ema_decay=0.75)
    before = {k: v.clone() for k, v in stepper.generator.state_dict().items()}
    stepper([_batch()], step=0)
    after = stepper.generator.state_dict()
    for key, value in after.items():
        expected = 0.75 * before[key] + 0.25 * value
        torch.testing.assert_close(stepper.ema.shadow[key], expected, rtol=1e-6, atol=1e-7)
        assert not torch.equal(stepper.ema.shadow[key], value)


def test_without_ema_configured_the_step_keeps_none() -> None:
    stepper = _step(_config())
    stats = stepper([_batch()], step=0)
    assert stepper.ema is None and stats["nonfinite"] == 0.0


class TwoPartDiscriminator(Discriminator):
    """:class:`TinyDiscriminator` declaring its body and head as two clip groups."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyDiscriminator()

    def clip_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"body": list(self.inner.body.parameters()),
                "head": list(self.inner.head.parameters())}

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        return self.inner(wave, labels)


@pytest.mark.parametrize("per_part", [False, True])
def test_grad_clip_per_part_clips_each_clip_group_of_the_discriminator(per_part: bool) -> None:
    """Per part (BigVGAN): D's update is SGD on each clip group's gradient clipped by hand;
    jointly (the default): on the whole gradient clipped at once. G is one group either way."""
    limit = 1e-3
    pre_clip: dict[str, list[Tensor]] = {}

    def hook(part: str, step: int, model: nn.Module) -> None:
        pre_clip[part] = [p.grad.clone() for p in model.parameters()]

    torch.manual_seed(0)
    models = (TinyVocoder(), TwoPartDiscriminator())
    stepper = _step(_config(grad_clip=limit, grad_clip_per_part=per_part), hook=hook,
                    models=models)
    d0 = [p.detach().clone() for p in stepper.discriminator.parameters()]
    stats = stepper([_batch()], step=0)

    grads = pre_clip["discriminator"]  # body.weight, body.bias, head.weight, head.bias
    groups = [grads[:2], grads[2:]] if per_part else [grads]
    norms = [torch.cat([g.flatten() for g in group]).norm() for group in groups]
    assert min(norms) > limit  # every group is clipped
    expected = [p - 0.05 * g * (limit / (n + 1e-6))
                for group, n, p_group in zip(groups, norms, [d0[:2], d0[2:]] if per_part
                                             else [d0])
                for g, p in zip(group, p_group)]
    for after, want in zip(stepper.discriminator.parameters(), expected):
        torch.testing.assert_close(after.detach(), want, rtol=1e-6, atol=1e-9)
    whole = torch.cat([g.flatten() for g in grads]).norm().item()
    assert stats["d_grad_norm"] == pytest.approx(whole, rel=1e-6)  # the logged scalar
    if per_part:
        assert stats["d_grad_norm_body"] == pytest.approx(norms[0].item(), rel=1e-6)
        assert stats["d_grad_norm_head"] == pytest.approx(norms[1].item(), rel=1e-6)
    else:
        assert not any(key.startswith("d_grad_norm_") for key in stats)
    assert not any(key.startswith("g_grad_norm_") for key in stats)  # G: one group


def test_grad_clip_per_part_needs_a_clip_norm() -> None:
    from audiogan.config import ConfigError

    with pytest.raises(ConfigError, match="training.grad_clip_per_part is true but "
                                          "training.grad_clip is null"):
        _config(grad_clip_per_part=True)


def test_each_model_is_clipped_at_its_own_limit() -> None:
    """training.grad_clip_discriminator (PWG: G 10, D 1): D's update is its gradient clipped at
    its own limit, G's at grad_clip; without it both use grad_clip (the earlier behaviour)."""
    grads: dict[str, list[Tensor]] = {}

    def hook(part: str, step: int, model: nn.Module) -> None:
        grads[part] = [p.grad.clone() for p in model.parameters()]

    for d_limit in (1e-4, None):
        stepper = _step(_config(grad_clip=2e-3, grad_clip_discriminator=d_limit), hook=hook)
        g0, d0 = _params(stepper.generator), _params(stepper.discriminator)
        stepper([_batch()], step=0)
        for part, before, limit in (("generator", g0, 2e-3),
                                    ("discriminator", d0, d_limit or 2e-3)):
            model = getattr(stepper, part)
            norm = torch.cat([g.flatten() for g in grads[part]]).norm()
            assert norm > limit  # clipped
            for (name, after), grad in zip(model.named_parameters(), grads[part]):
                want = before[name] - 0.05 * grad * (limit / (norm + 1e-6))
                torch.testing.assert_close(after.detach(), want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_bad_discriminator_clip_is_one_line(value: float) -> None:
    from audiogan.config import ConfigError

    with pytest.raises(ConfigError, match=rf"^training.grad_clip_discriminator must be positive "
                                          rf"or null, got {value}$"):
        _config(grad_clip_discriminator=value)


class TinyNoiseVocoder(TinyVocoder):
    """TinyVocoder plus its noise, sample by sample; records the noise it was given."""

    noise_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Tensor] = []

    def forward(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        assert noise is not None and noise.shape == (mel.shape[0], 1, mel.shape[-1] * HOP)
        self.seen.append(noise.detach().clone())
        return super().forward(mel) + 0.1 * noise


def test_noise_generators_get_noise_keyed_by_each_samples_index() -> None:
    """The kind draws each item's noise from its own key: a sample's noise depends on its
    dataset index (and step), not on its place in the batch; steps draw new noise."""
    runs = []
    for order in (torch.arange(BATCH), torch.tensor([2, 0, 3, 1])):
        stepper = _step(_config(discriminator_start_step=0),
                        models=(TinyNoiseVocoder(), TinyDiscriminator()))
        batch = {k: v[order] for k, v in _batch().items()}
        stepper([batch], step=3)
        stepper([batch], step=4)
        seen = stepper.generator.seen  # D pass of step 3 (G reuses its output), then step 4
        assert len(seen) == 2 and not torch.equal(seen[0], seen[1])
        runs.append({int(i): (seen[0][k], seen[1][k]) for k, i in enumerate(batch["index"])})
    for index, (step3, step4) in runs[0].items():
        assert torch.equal(step3, runs[1][index][0]) and torch.equal(step4, runs[1][index][1])
    assert not torch.equal(runs[0][0][0], runs[0][1][0])
