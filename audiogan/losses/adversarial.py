"""Adversarial objectives (lsgan, hinge, bce, wgan_gp), gradient penalty, feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.core.registry import Registry
from audiogan.losses._common import _sum
from audiogan.models.base import DiscriminatorOutput

ADVERSARIAL_LOSSES: Registry[AdversarialLoss] = Registry("adversarial loss")


class AdversarialLoss:
    """Generator and discriminator sides of one GAN objective.

    Each side is a mean over a sub-discriminator's logits, summed over sub-discriminators;
    logits are promoted to float32. The caller detaches the generated batch before scoring it
    for the discriminator step (``disc(fake.detach())``).

    Attributes:
        needs_gradient_penalty: True when the objective expects :func:`gradient_penalty` to be
            added to the discriminator loss (WGAN-GP).
    """

    needs_gradient_penalty: bool = False

    def generator_term(self, fake: Tensor) -> Tensor:
        """Generator loss for one sub-discriminator's logits ``fake`` (any shape) -> scalar."""
        raise NotImplementedError

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        """Discriminator loss for one sub-discriminator's real / fake logits -> scalar."""
        raise NotImplementedError

    def generator(self, fake: DiscriminatorOutput) -> Tensor:
        """Generator loss: falls as the discriminator scores generated audio as real.

        Args:
            fake: the discriminator's output for generated audio (not detached).

        Returns:
            float32 scalar, summed over sub-discriminators.
        """
        return _sum(self.generator_term(logit.float()) for logit in fake.logits)

    def discriminator(self, real: DiscriminatorOutput, fake: DiscriminatorOutput) -> Tensor:
        """Discriminator loss.

        Args:
            real: output for real audio.
            fake: output for (detached) generated audio.

        Returns:
            float32 scalar, summed over sub-discriminators.
        """
        if len(real.logits) != len(fake.logits):
            raise ValueError(
                f"real has {len(real.logits)} sub-discriminator outputs, fake {len(fake.logits)}"
            )
        return _sum(
            self.discriminator_term(real_logit.float(), fake_logit.float())
            for real_logit, fake_logit in zip(real.logits, fake.logits)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@ADVERSARIAL_LOSSES.register("lsgan")
class LSGANLoss(AdversarialLoss):
    """Least squares GAN (targets 1 real, 0 fake): G ``mean((D(G(z)) - 1)^2)``,
    D ``mean((D(x) - 1)^2) + mean(D(G(z))^2)``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return (fake - 1).pow(2).mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return (real - 1).pow(2).mean() + fake.pow(2).mean()


@ADVERSARIAL_LOSSES.register("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge loss: G ``-mean(D(G(z)))``, D ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return -fake.mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


@ADVERSARIAL_LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    """Non-saturating GAN on logits: G ``mean(softplus(-D(G(z))))`` = ``-log sigmoid``,
    D ``mean(softplus(-D(x))) + mean(softplus(D(G(z))))``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()


@ADVERSARIAL_LOSSES.register("wgan_gp")
class WGANGPLoss(AdversarialLoss):
    """Wasserstein critic: G ``-mean(D(G(z)))``, D ``mean(D(G(z))) - mean(D(x))``; the trainer
    adds :func:`gradient_penalty` to the discriminator side (``needs_gradient_penalty``)."""

    needs_gradient_penalty = True

    def generator_term(self, fake: Tensor) -> Tensor:
        return -fake.mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None = None,
    *,
    weight: float = 10.0,
    alpha: Tensor | None = None,
) -> Tensor:
    """WGAN-GP penalty: ``weight * mean((||grad_x D(x_hat)||_2 - 1)^2)``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` (both detached); the gradient is that of the
    sum of all sub-discriminators' logits, taken per example over all of its samples, with
    ``create_graph=True`` so the penalty trains the discriminator (double backward).

    Args:
        discriminator: called as ``discriminator(x_hat, labels)``, returns a
            :class:`DiscriminatorOutput`.
        real: (B, 1, T) real audio.
        fake: (B, 1, T) generated audio.
        labels: (B,) class labels for conditional discriminators.
        weight: the penalty coefficient lambda (10 in the paper).
        alpha: (B, 1, 1) interpolation weights; drawn uniformly from [0, 1) (global RNG) if None.

    Returns:
        float32 scalar.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    real = real.detach().float()
    fake = fake.detach().float()
    if alpha is None:
        shape = (real.size(0),) + (1,) * (real.dim() - 1)
        alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    output = discriminator(x_hat, labels)
    score = _sum(logit.float().sum() for logit in output.logits)
    (grad,) = torch.autograd.grad(score, x_hat, create_graph=True)
    norm = torch.sqrt(grad.float().flatten(1).pow(2).sum(dim=1) + 1e-12)
    return weight * (norm - 1).pow(2).mean()


def feature_matching_loss(
    real: DiscriminatorOutput, fake: DiscriminatorOutput, reduction: str = "sum"
) -> Tensor:
    """L1 distance between the discriminator's feature maps for real and generated audio.

    Each feature map contributes ``mean(|real - fake|)`` (real detached).

    Args:
        real: output for real audio.
        fake: output for generated audio (not detached: the generator learns from it).
        reduction: ``"sum"`` (default) over all layers of all sub-discriminators, as HiFi-GAN;
            ``"mean"`` averages over all those feature maps instead.

    Returns:
        float32 scalar.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if len(real.features) != len(fake.features):
        raise ValueError(
            f"real has {len(real.features)} sub-discriminator outputs, fake {len(fake.features)}"
        )
    terms: list[Tensor] = []
    for real_maps, fake_maps in zip(real.features, fake.features):
        if len(real_maps) != len(fake_maps):
            raise ValueError(f"real has {len(real_maps)} feature maps, fake {len(fake_maps)}")
        for real_map, fake_map in zip(real_maps, fake_maps):
            terms.append((real_map.detach().float() - fake_map.float()).abs().mean())
    total = _sum(terms)
    return total / len(terms) if reduction == "mean" else total
