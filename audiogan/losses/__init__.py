"""GAN losses: adversarial objectives, gradient penalty, feature matching, spectral losses.

Everything here works on :class:`~audiogan.models.base.DiscriminatorOutput` (one logit tensor
and one feature list per sub-discriminator) and returns a float32 scalar, also under autocast.
Adversarial and feature-matching terms are *summed* over sub-discriminators (and layers), each
term being a mean over its own elements: the reduction the published loss weights assume
(HiFi-GAN: feature matching 2, mel 45). The weights themselves are config data;
:class:`GeneratorLossTerms` combines the parts as ``total = sum(w * parts[k] for k, w in
weights.items())``.

Example:
    >>> adversarial = ADVERSARIAL_LOSSES.build("lsgan")
    >>> loss_d = adversarial.discriminator(disc(real), disc(fake.detach()))
    >>> loss_g = adversarial.generator(disc(fake))
"""

from __future__ import annotations

from audiogan.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    BCELoss,
    HingeLoss,
    LSGANLoss,
    WGANGPLoss,
    feature_matching_loss,
    gradient_penalty,
)
from audiogan.losses.spectral import (
    MelLoss,
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    SubbandSTFTLoss,
)
from audiogan.losses.terms import GeneratorLossTerms

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AdversarialLoss",
    "BCELoss",
    "GeneratorLossTerms",
    "HingeLoss",
    "LSGANLoss",
    "MelLoss",
    "MultiResolutionMelLoss",
    "MultiResolutionSTFTLoss",
    "MultiScaleMelLoss",
    "SubbandSTFTLoss",
    "WGANGPLoss",
    "feature_matching_loss",
    "gradient_penalty",
]
