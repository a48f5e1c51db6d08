"""Interfaces every generator and discriminator honours.

The trainer and the :class:`~audiogan.vocoder.Vocoder` only talk to these attributes, never to
architecture names.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from torch import Tensor, nn

from audiogan.models.layers import remove_weight_norm

InputKind = Literal["mel", "latent"]


class DiscriminatorOutput(NamedTuple):
    """What every discriminator returns for one batch of waveforms.

    Attributes:
        logits: one tensor per sub-discriminator, each (B, ...) of real/fake scores.
        features: per sub-discriminator, the list of its intermediate feature maps
            (used by the feature-matching loss).
    """

    logits: list[Tensor]
    features: list[list[Tensor]]


class Generator(nn.Module):
    """Base class for generators.

    Subclasses set, in ``__init__``:

    - ``input_kind``: ``"mel"`` (vocoder: mel (B, n_mels, frames) -> wave (B, 1, frames * hop))
      or ``"latent"`` (unconditional: z (B, latent_dim) [+ labels (B,)] -> wave (B, 1, T)).
    - ``hop_length``: samples per mel frame (vocoders); for latent models, the clip length.
    - ``latent_dim``: size of z (0 for vocoders).
    - ``num_classes``: number of class labels (0 when unconditional / vocoder).
    - ``receptive_field_frames``: how many input frames to either side influence one output
      frame (an upper bound); streaming synthesis overlaps chunks by this much.
    """

    input_kind: InputKind = "mel"
    hop_length: int = 1
    latent_dim: int = 0
    num_classes: int = 0
    receptive_field_frames: int = 0
    in_channels: int = 0

    def remove_weight_norm(self) -> None:
        """Fold weight-norm parametrisations into plain weights (outputs unchanged)."""
        remove_weight_norm(self)


class Discriminator(nn.Module):
    """Base class: ``forward(wave (B, 1, T), labels=None) -> DiscriminatorOutput``."""

    def remove_weight_norm(self) -> None:
        remove_weight_norm(self)
