"""MelGAN's multi-scale discriminator (Kumar et al., 2019), as its reference implementations
build it (descriptinc/melgan-neurips ``Discriminator``, ParallelWaveGAN's
``MelGANMultiScaleDiscriminator``), so imported discriminator weights score exactly as there.

Per scale: reflection pad + conv (kernel ``k0 * k1``, ``channels``) -> per downsampling scale
``s`` a grouped conv (kernel ``10 s + 1``, stride ``s``, padding ``5 s``, groups ``in / 4``, out
``min(in * s, max_channels)``) -> conv (kernel ``k0``, ``min(2 * in, max_channels)``) -> conv
(kernel ``k1``) to one channel; leaky ReLU after every conv but the last; weight norm on every
conv. Scale ``i + 1`` sees the signal average-pooled (kernel 4, stride 2, padding 1,
``count_include_pad=False``) ``i + 1`` times. With the defaults (channels 16, scales 4, 4, 4, 4,
max 1024, kernels 5 and 3) this is melgan-neurips' ``Discriminator(3, 16, 4, 4)``.

audiogan's ``msd`` differs on purpose (HiFi-GAN's: zero padding, spectral norm on the first scale,
pooling padding 2 counting the pad); this one exists for exactness with imported MelGANs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import DISCRIMINATORS
from audiogan.models.discriminators import _ConvStack, _PooledScalesDiscriminator
from audiogan.models.layers import weight_norm

__all__ = ["MelGANMultiScaleDiscriminator", "MelGANScaleDiscriminator"]


class MelGANScaleDiscriminator(_ConvStack):
    """One MelGAN scale: ``convs`` (each followed by leaky ReLU) then the 1-channel ``post``.

    Args:
        channels: output channels of the first conv.
        downsample_scales: stride of each grouped downsampling conv.
        max_channels: channel cap.
        kernel_sizes: ``(k0, k1)``: the first conv has kernel ``k0 * k1``, the one before
            ``post`` ``k0``, ``post`` ``k1`` (odd).
        negative_slope: leaky-ReLU slope.
    """

    def __init__(self, *, channels: int, downsample_scales: Sequence[int], max_channels: int,
                 kernel_sizes: Sequence[int], negative_slope: float) -> None:
        super().__init__()
        k0, k1 = (int(k) for k in kernel_sizes)
        if k0 % 2 == 0 or k1 % 2 == 0 or channels % 4:
            raise ValueError(f"MelGAN discriminator kernel_sizes must be odd and channels a "
                             f"multiple of 4, got {kernel_sizes}, {channels}")
        self.negative_slope = negative_slope
        self.first_padding = (k0 * k1 - 1) // 2
        self.convs = nn.ModuleList([weight_norm(nn.Conv1d(1, channels, k0 * k1))])
        in_channels = channels
        for scale in downsample_scales:
            out_channels = min(in_channels * scale, max_channels)
            self.convs.append(weight_norm(nn.Conv1d(
                in_channels, out_channels, 10 * scale + 1, stride=scale, padding=5 * scale,
                groups=in_channels // 4)))
            in_channels = out_channels
        out_channels = min(in_channels * 2, max_channels)
        self.convs.append(weight_norm(nn.Conv1d(in_channels, out_channels, k0,
                                                padding=(k0 - 1) // 2)))
        self.post = weight_norm(nn.Conv1d(out_channels, 1, k1, padding=(k1 - 1) // 2))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """wave (B, 1, T) -> logits (B, frames) and the feature maps (B, C, frames_l) per layer
        (post-activation, then the score map)."""
        return self._score(F.pad(wave, (self.first_padding, self.first_padding), mode="reflect"))


@DISCRIMINATORS.register("melgan_msd")
class MelGANMultiScaleDiscriminator(_PooledScalesDiscriminator):
    """MelGAN's multi-scale discriminator (reference layout; see the module docstring).

    Args:
        scales: number of scales.
        channels, downsample_scales, max_channels, kernel_sizes, negative_slope: passed to
            every :class:`MelGANScaleDiscriminator`.
    """

    def __init__(
        self,
        scales: int = 3,
        *,
        channels: int = 16,
        downsample_scales: Sequence[int] = (4, 4, 4, 4),
        max_channels: int = 1024,
        kernel_sizes: Sequence[int] = (5, 3),
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__(
            scales,
            lambda _: MelGANScaleDiscriminator(
                channels=channels, downsample_scales=downsample_scales, max_channels=max_channels,
                kernel_sizes=kernel_sizes, negative_slope=negative_slope),
            nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False),
            "melgan",
        )
