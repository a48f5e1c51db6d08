"""The weighted generator loss: which terms are on, how each is computed, how they add up.

``total = sum(weights[k] * parts[k] for k in parts)``. The parts are built elsewhere (from a
config: :func:`audiogan.config.build.loss_terms_from_config`) and handed in; this module only
does the arithmetic, so the training step never names a loss.

Example:
    >>> terms = GeneratorLossTerms({"mel": 45.0, "adversarial": 1.0},
    ...                            ADVERSARIAL_LOSSES.build("lsgan"), mel=MelLoss())
    >>> parts = terms.reconstruction(fake, real)            # {"mel": ...}
    >>> parts.update(terms.adversarial_parts(disc(fake), None))
    >>> loss = terms.total(parts)
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from audiogan.losses.adversarial import AdversarialLoss, feature_matching_loss
from audiogan.losses.spectral import (
    MelLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    SubbandSTFTLoss,
)
from audiogan.models.base import DiscriminatorOutput

ADVERSARIAL_TERMS = ("adversarial", "feature_matching")
"""The terms that need a discriminator."""

SPECTRAL_TERMS = ("mel", "multiscale_mel", "stft", "subband_stft")
"""The terms that compare the generated waveform with a target one (vocoders only)."""

KNOWN_TERMS = ADVERSARIAL_TERMS + SPECTRAL_TERMS


class GeneratorLossTerms(nn.Module):
    """Computes the weighted generator loss ``sum(w * parts[k] for k, w in weights.items())``.

    Only the weighted terms are computed, and each spectral term needs its module exactly when
    it is weighted.

    Args:
        weights: term name -> weight; names from :data:`KNOWN_TERMS`.
        adversarial: the generator side of the GAN objective (``adversarial.generator``).
        feature_matching_reduction: ``reduction`` of
            :func:`~audiogan.losses.feature_matching_loss` ("sum" or "mean").
        mel: the ``"mel"`` term's loss (given iff ``"mel"`` is weighted).
        multiscale_mel: the ``"multiscale_mel"`` term's loss (BigVGAN-v2's; given iff
            ``"multiscale_mel"`` is weighted).
        stft: the ``"stft"`` term's loss (given iff ``"stft"`` is weighted).
        subband_stft: the ``"subband_stft"`` term's loss (given iff ``"subband_stft"`` is
            weighted); its ``pqmf`` also splits the generated waveform into sub-bands.

    Raises:
        ValueError: an unknown term name, or a spectral module given without its weight or
            missing for one.
    """

    def __init__(
        self,
        weights: Mapping[str, float],
        adversarial: AdversarialLoss,
        *,
        feature_matching_reduction: str = "sum",
        mel: MelLoss | None = None,
        multiscale_mel: MultiScaleMelLoss | None = None,
        stft: MultiResolutionSTFTLoss | None = None,
        subband_stft: SubbandSTFTLoss | None = None,
    ) -> None:
        super().__init__()
        self.weights: dict[str, float] = dict(weights)
        unknown = sorted(set(self.weights) - set(KNOWN_TERMS))
        if unknown:
            raise ValueError(f"unknown loss terms {unknown}; known: {list(KNOWN_TERMS)}")
        given = {"mel": mel, "multiscale_mel": multiscale_mel, "stft": stft,
                 "subband_stft": subband_stft}
        for name, module in given.items():
            if (module is not None) != (name in self.weights):
                state = "given without a weight" if module is not None else "missing"
                raise ValueError(f"the {name!r} loss module is {state}")
        self.adversarial = adversarial
        self.fm_reduction = feature_matching_reduction
        if mel is not None:
            self.mel = mel
        if multiscale_mel is not None:
            self.multiscale_mel = multiscale_mel
        if stft is not None:
            self.stft = stft
        if subband_stft is not None:
            self.pqmf = subband_stft.pqmf
            self.subband_stft = subband_stft

    @property
    def needs_discriminator(self) -> bool:
        """True when an adversarial or feature-matching term is weighted."""
        return any(k in self.weights for k in ADVERSARIAL_TERMS)

    def reconstruction(self, fake: Tensor, real: Tensor) -> dict[str, Tensor]:
        """The weighted spectral terms (float32 scalars). ``fake``, ``real``: (B, 1, T)."""
        parts: dict[str, Tensor] = {}
        if "mel" in self.weights:
            parts["mel"] = self.mel(fake, real)
        if "multiscale_mel" in self.weights:
            parts["multiscale_mel"] = self.multiscale_mel(fake, real)
        if "stft" in self.weights:
            parts["stft"] = self.stft(fake, real)
        if "subband_stft" in self.weights:
            parts["subband_stft"] = self.subband_stft(self.pqmf.analysis(fake), real)
        return parts

    def adversarial_parts(
        self, fake_out: DiscriminatorOutput, real_out: DiscriminatorOutput | None
    ) -> dict[str, Tensor]:
        """The weighted adversarial and feature-matching terms (float32 scalars) from the
        discriminator's outputs on generated and real audio; feature matching needs
        ``real_out``."""
        parts: dict[str, Tensor] = {}
        if "adversarial" in self.weights:
            parts["adversarial"] = self.adversarial.generator(fake_out)
        if "feature_matching" in self.weights and real_out is not None:
            parts["feature_matching"] = feature_matching_loss(
                real_out, fake_out, reduction=self.fm_reduction
            )
        return parts

    def total(self, parts: dict[str, Tensor]) -> Tensor:
        """Weighted sum of the computed parts (a scalar)."""
        return sum(self.weights[k] * value for k, value in parts.items())  # type: ignore[return-value]
