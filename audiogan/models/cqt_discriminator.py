"""BigVGAN-v2's multi-scale sub-band CQT discriminator (``cqtd``).

Each sub-discriminator resamples the waveform to twice its rate (torchaudio's ``Resample``,
default windowed-sinc settings), takes its complex CQT (:class:`~audiogan.models.cqt.
ConstantQTransform`, zero padding) and stacks real and imaginary parts as two channels over
(frames, bins). A plain (3, 9) convolution per octave mixes each octave's bins on their own
(the "sub-bands"); the octaves are concatenated again along the bins and go through a plain
conv, strided dilated weight-normed convs (stride 2 along the bins, dilation along time) and a
(3, 3) conv, each followed by LeakyReLU(0.1); a weight-normed (3, 3) conv gives the scores.

Module names follow BigVGAN's own (``discriminators.<i>.conv_pres / convs / conv_post /
resample / cqt_transform``, the same buffers), so its saved state dicts map key for key, weight
norm's tensors apart (``weight_g`` / ``weight_v`` there, ``parametrizations.weight.original0 /
original1`` here).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from audiogan.models import DISCRIMINATORS
from audiogan.models.base import (
    Discriminator,
    DiscriminatorOutput,
    as_batch_channel_time,
    score_each,
)
from audiogan.models.cqt import ConstantQTransform
from audiogan.models.layers import weight_norm

KERNEL = (3, 9)  # (frames, bins)
NEGATIVE_SLOPE = 0.1


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)


def _resampler(sample_rate: int) -> nn.Module:
    """torchaudio's ``Resample`` to twice ``sample_rate`` (imported here: only this model needs
    torchaudio). Its kernel is computed from values, so when built on the ``meta`` device (the
    config check does) it is made on the CPU."""
    from torchaudio.transforms import Resample

    if torch.empty(0).is_meta:
        with torch.device("cpu"):
            return Resample(orig_freq=sample_rate, new_freq=sample_rate * 2)
    return Resample(orig_freq=sample_rate, new_freq=sample_rate * 2)


class CQTSubDiscriminator(nn.Module):
    """One CQT sub-discriminator (see the module doc); every setting comes from
    :class:`MultiScaleSubbandCQTDiscriminator`.

    Args:
        sample_rate: rate of the input waveform in Hz (the CQT runs at twice this).
        hop_length: CQT hop, in samples at twice ``sample_rate``.
        n_octaves: octaves of the CQT, from 32.70 Hz; each has its own first convolution.
        bins_per_octave: CQT bins per octave.
        filters: channels of the first convolution; the ``i``-th after it has
            ``min(filters * filters_scale^i, max_filters)``.
        max_filters: the cap on the channels.
        filters_scale: channel growth per layer.
        dilations: time dilation of each strided convolution.
        normalize_volume: remove the DC offset and peak-normalise each input to 0.8 first.
    """

    def __init__(self, sample_rate: int, hop_length: int, n_octaves: int, bins_per_octave: int,
                 *, filters: int, max_filters: int, filters_scale: int,
                 dilations: Sequence[int], normalize_volume: bool) -> None:
        super().__init__()
        if n_octaves < 1 or bins_per_octave < 1:
            raise ValueError(f"cqtd: n_octaves ({n_octaves}) and bins_per_octave "
                             f"({bins_per_octave}) must be >= 1")
        self.n_octaves, self.bins_per_octave = n_octaves, bins_per_octave
        self.normalize_volume = normalize_volume
        self.resample = _resampler(sample_rate)
        self.cqt_transform = ConstantQTransform(
            sample_rate * 2, hop_length, n_bins=n_octaves * bins_per_octave,
            bins_per_octave=bins_per_octave)
        padding = _same_padding(KERNEL)
        self.conv_pres = nn.ModuleList(
            nn.Conv2d(2, 2, KERNEL, padding=padding) for _ in range(n_octaves))

        def width(layer: int) -> int:
            return min(filters_scale ** layer * filters, max_filters)

        self.convs = nn.ModuleList([nn.Conv2d(2, filters, KERNEL, padding=padding)])
        in_channels = filters
        for layer, dilation in enumerate(dilations, start=1):
            conv = nn.Conv2d(in_channels, width(layer), KERNEL, stride=(1, 2),
                             dilation=(dilation, 1), padding=_same_padding(KERNEL, (dilation, 1)))
            self.convs.append(weight_norm(conv))
            in_channels = width(layer)
        square = (KERNEL[0], KERNEL[0])
        out_channels = width(len(dilations) + 1)
        self.convs.append(weight_norm(
            nn.Conv2d(in_channels, out_channels, square, padding=_same_padding(square))))
        self.conv_post = weight_norm(
            nn.Conv2d(out_channels, 1, square, padding=_same_padding(square)))
        self.activation = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Score one signal.

        Args:
            wave: (B, 1, T).

        Returns:
            logits (B, frames * bins') and the post-activation feature maps
            (B, C, frames, bins_l) of the ``convs`` (not the score map, as BigVGAN);
            ``frames = 2 T // hop_length + 1``.
        """
        if self.normalize_volume:
            wave = wave - wave.mean(dim=-1, keepdim=True)
            wave = 0.8 * wave / (wave.abs().amax(dim=-1, keepdim=True) + 1e-9)
        with torch.autocast(device_type=wave.device.type, enabled=False):  # float32 spectra
            cqt = self.cqt_transform(self.resample(wave.float()))  # (B, bins, frames, 2)
        x = cqt.permute(0, 3, 2, 1)  # (B, 2 (real, imaginary), frames, bins)
        bins = self.bins_per_octave
        x = torch.cat([conv(x[..., octave * bins:(octave + 1) * bins])
                       for octave, conv in enumerate(self.conv_pres)], dim=-1)
        features: list[Tensor] = []
        for conv in self.convs:
            x = self.activation(conv(x))
            features.append(x)
        return self.conv_post(x).flatten(1), features


@DISCRIMINATORS.register("cqtd")
class MultiScaleSubbandCQTDiscriminator(Discriminator):
    """BigVGAN-v2's discriminator: one :class:`CQTSubDiscriminator` per CQT resolution.

    The defaults are those of every published BigVGAN-v2 config.

    Args:
        sample_rate: rate of the waveforms in Hz (``discriminator_from_config`` passes the
            config's).
        hop_lengths: CQT hop per sub-discriminator (samples at twice the rate).
        n_octaves: CQT octaves per sub-discriminator.
        bins_per_octaves: CQT bins per octave per sub-discriminator.
        filters, max_filters, filters_scale, dilations, normalize_volume: passed to every
            :class:`CQTSubDiscriminator`.

    Raises:
        ValueError: lists of different lengths, or a CQT the sample rate cannot hold (see
            :class:`~audiogan.models.cqt.ConstantQTransform`).
    """

    def __init__(
        self,
        sample_rate: int,
        hop_lengths: Sequence[int] = (512, 256, 256),
        n_octaves: Sequence[int] = (9, 9, 9),
        bins_per_octaves: Sequence[int] = (24, 36, 48),
        *,
        filters: int = 128,
        max_filters: int = 1024,
        filters_scale: int = 1,
        dilations: Sequence[int] = (1, 2, 4),
        normalize_volume: bool = False,
    ) -> None:
        super().__init__()
        if not len(hop_lengths) == len(n_octaves) == len(bins_per_octaves) >= 1:
            raise ValueError(
                f"cqtd: hop_lengths, n_octaves and bins_per_octaves need one entry per "
                f"sub-discriminator each, got {list(hop_lengths)}, {list(n_octaves)}, "
                f"{list(bins_per_octaves)}")
        settings = [(int(h), int(o), int(b))
                    for h, o, b in zip(hop_lengths, n_octaves, bins_per_octaves)]
        self.sample_rate = int(sample_rate)
        self.discriminators = nn.ModuleList(
            CQTSubDiscriminator(
                self.sample_rate, hop, octaves, bins, filters=filters, max_filters=max_filters,
                filters_scale=filters_scale, dilations=tuple(dilations),
                normalize_volume=normalize_volume)
            for hop, octaves, bins in settings
        )
        self.names = [f"cqtd_h{hop}_o{octaves}_b{bins}" for hop, octaves, bins in settings]

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score a batch.

        Args:
            wave: (B, 1, T) or (B, T) waveform at ``sample_rate``.
            labels: ignored (unconditional).

        Returns:
            ``DiscriminatorOutput`` with one logit (B, N_k) and five feature maps per
            sub-discriminator.
        """
        return score_each(self.discriminators, as_batch_channel_time(wave))
