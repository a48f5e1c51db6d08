"""Interfaces every generator and discriminator honours.

The trainer and the :class:`~audiogan.inference.vocoder.Vocoder` only talk to these attributes,
never to
architecture names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

import torch
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


def as_batch_channel_time(wave: Tensor) -> Tensor:
    """Return ``wave`` as (B, 1, T); accepts (B, T) or (B, 1, T) (``ValueError`` otherwise)."""
    if wave.dim() == 2:
        wave = wave.unsqueeze(1)
    if wave.dim() != 3 or wave.size(1) != 1:
        raise ValueError(f"expected a waveform (B, 1, T) or (B, T), got {tuple(wave.shape)}")
    return wave


def score_each(parts: Iterable[nn.Module], wave: Tensor) -> DiscriminatorOutput:
    """Run every sub-discriminator in ``parts`` on the same wave (B, 1, T).

    Each part returns ``(logit, features)``; the result holds their logits and feature lists in
    the parts' order.
    """
    logits: list[Tensor] = []
    features: list[list[Tensor]] = []
    for part in parts:
        logit, feature = part(wave)
        logits.append(logit)
        features.append(feature)
    return DiscriminatorOutput(logits, features)


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
    - ``noise_channels``: 0, or (noise-driven vocoders such as Parallel WaveGAN) the channels of
      the noise the generator also takes: ``forward(mel, noise)`` with noise
      (B, noise_channels, frames * hop). Whoever runs the model draws the noise with
      :func:`audiogan.models.randomness.keyed_noise` (keyed by seed and absolute sample index,
      so chunked and streamed synthesis see the same noise as one call).
    """

    input_kind: InputKind = "mel"
    hop_length: int = 1
    latent_dim: int = 0
    num_classes: int = 0
    receptive_field_frames: int = 0
    in_channels: int = 0
    noise_channels: int = 0
    #: mixed precision: index of the first upsampling stage run in float32 after a cast to a
    #: lower precision (-1: none; set by a generator's ``keep_float32_tail``, where it has one)
    float32_from: int = -1

    def remove_weight_norm(self) -> None:
        """Fold weight-norm parametrisations into plain weights (outputs unchanged)."""
        remove_weight_norm(self)

    def sample_latent(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draw ``(batch, latent_dim)`` latent vectors from this model's prior.

        Standard normal unless a subclass overrides :meth:`draw_prior` (WaveGAN: uniform
        [-1, 1)). Drawn on ``generator``'s device (CPU by default), then moved to ``device``
        (default: :meth:`latent_device`), so a seed gives the same z on any device. Training
        and :class:`audiogan.WaveGenerator` both draw through this method, so they always agree.
        """
        source = generator.device if generator is not None else torch.device("cpu")
        z = self.draw_prior(batch, generator, source)
        if device is None:
            device = self.latent_device()
        return z if device is None else z.to(device)

    def draw_prior(self, batch: int, generator: torch.Generator | None, source: torch.device
                   ) -> Tensor:
        """The ``(batch, latent_dim)`` draw behind :meth:`sample_latent`, made on ``source``."""
        return torch.randn(batch, self.latent_dim, generator=generator, device=source)

    def latent_device(self) -> torch.device | None:
        """Where :meth:`sample_latent` puts z when no device is given (``None``: where drawn)."""
        return None


class Discriminator(nn.Module):
    """Base class: ``forward(wave (B, 1, T), labels=None) -> DiscriminatorOutput``."""

    def clip_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameter groups whose gradients are clipped each on its own when
        ``training.grad_clip_per_part`` is on (BigVGAN clips MPD and MRD / CQTD separately).

        Returns:
            group name -> parameters; every parameter in exactly one group. One group, ``"all"``,
            unless a subclass splits itself into parts.
        """
        return {"all": list(self.parameters())}

    def remove_weight_norm(self) -> None:
        remove_weight_norm(self)
