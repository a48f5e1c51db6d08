"""The WaveGAN discriminator (Donahue et al., 2019) and its phase shuffle."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import DISCRIMINATORS
from audiogan.models.base import Discriminator, DiscriminatorOutput
from audiogan.models.discriminators import _as_batch_channel_time
from audiogan.models.layers import keyed_randint


def phase_shuffle(
    x: Tensor, radius: int, generator: torch.Generator | None = None, salt: int = 0
) -> Tensor:
    """Shift every example by its own random offset in ``[-radius, radius]`` (reflect padding).

    ``out[b, :, t] = x[b, :, t - k_b]``, reading reflected samples past either edge. The
    offsets are drawn from ``generator`` (on its device, then moved to ``x``'s); when it is
    ``None``, from the per-sample keys of an active :func:`audiogan.models.layers.sample_keys`
    block (mixed with ``salt``, so each layer differs) — how the trainer makes them independent
    of the number of ranks — else from the global RNG of ``x``'s device. Differentiable to any
    order.

    Args:
        x: (B, C, T) with T > radius.
        radius: largest shift; 0 returns ``x``.
        generator: optional source of randomness.
        salt: mixed into per-sample keys (the layer index).

    Returns:
        (B, C, T), the shifted ``x``.
    """
    if radius <= 0:
        return x
    batch, channels, length = x.shape
    if generator is not None:
        shifts = torch.randint(
            -radius, radius + 1, (batch, 1), generator=generator, device=generator.device
        )
    else:
        shifts = keyed_randint(-radius, radius + 1, batch, salt, x.device).view(batch, 1)
    padded = F.pad(x, (radius, radius), mode="reflect")
    index = torch.arange(length, device=x.device) + radius - shifts.to(x.device)
    return padded.gather(2, index.unsqueeze(1).expand(batch, channels, length))


_WAVEGAN_EXTRA_STRIDE = {16384: None, 32768: 2, 65536: 4}


@DISCRIMINATORS.register("wavegan")
class WaveGANDiscriminator(Discriminator):
    """The WaveGAN discriminator (Donahue et al., 2019), optionally a projection discriminator.

    Five ``Conv1d(kernel 25, stride 4)`` layers with ``d, 2d, 4d, 8d, 16d`` channels, each
    followed by LeakyReLU(0.2) and, all but the last, by phase shuffle; the (16d, 16) map is
    flattened and a dense layer gives the logit. Clips of 32768 / 65536 samples get a sixth
    layer with 32d channels and stride 2 / 4, as in the reference implementation, so the last
    map is always 16 long. No normalisation layers (WGAN-GP friendly); double backward works.

    Phase shuffle only acts in training mode; it draws from the ``generator`` passed to
    :meth:`forward`, else from the global RNG (seed it, or pass a ``torch.Generator``, for
    reproducibility). With ``num_classes > 0`` the logit gains ``<embed(label), h>`` (projection
    discriminator, Miyato & Koyama 2018), ``h`` being the flattened last feature map.

    Args:
        slice_len: input length, 16384, 32768 or 65536.
        model_size: ``d``, the width multiplier (64 in the paper).
        kernel_size: kernel of every convolution.
        phase_shuffle_radius: the ``n`` of phase shuffle (2 in the paper; 0 disables it).
        negative_slope: LeakyReLU slope.
        num_classes: number of class labels for the projection; 0 = unconditional.
    """

    def __init__(self, slice_len: int = 16384, *, model_size: int = 64, kernel_size: int = 25,
                 phase_shuffle_radius: int = 2, negative_slope: float = 0.2,
                 num_classes: int = 0) -> None:
        super().__init__()
        if slice_len not in _WAVEGAN_EXTRA_STRIDE:
            valid = sorted(_WAVEGAN_EXTRA_STRIDE)
            raise ValueError(f"slice_len must be one of {valid}, got {slice_len}")
        self.slice_len = slice_len
        self.num_classes = num_classes
        self.phase_shuffle_radius = phase_shuffle_radius
        self.negative_slope = negative_slope
        plan = [(model_size * 2**index, 4) for index in range(5)]
        extra_stride = _WAVEGAN_EXTRA_STRIDE[slice_len]
        if extra_stride is not None:
            plan.append((model_size * 32, extra_stride))
        self.convs = nn.ModuleList()
        in_channels = 1
        for out_channels, stride in plan:
            padding = (kernel_size - stride + 1) // 2  # 'same': output length T / stride
            self.convs.append(nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding))
            in_channels = out_channels
        self.feature_dim = in_channels * 16
        self.dense = nn.Linear(self.feature_dim, 1)
        self.embedding = nn.Embedding(num_classes, self.feature_dim) if num_classes > 0 else None
        self.names = ["wavegan"]

    def forward(
        self,
        wave: Tensor,
        labels: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> DiscriminatorOutput:
        """Score a batch.

        Args:
            wave: (B, 1, slice_len) waveform.
            labels: (B,) integer class labels; required when ``num_classes > 0``, else ignored.
            generator: source of the phase-shuffle offsets (global RNG when ``None``).

        Returns:
            ``DiscriminatorOutput`` with one logit (B, 1) and the post-activation map of every
            convolution, (B, C_l, slice_len / prod(strides[:l+1])).
        """
        x = _as_batch_channel_time(wave)
        if x.size(-1) != self.slice_len:
            raise ValueError(
                f"WaveGAN discriminator expects {self.slice_len} samples, got {x.size(-1)}"
            )
        features: list[Tensor] = []
        for index, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), self.negative_slope)
            features.append(x)
            if self.training and index < len(self.convs) - 1:
                x = phase_shuffle(x, self.phase_shuffle_radius, generator, salt=index)
        h = x.flatten(1)
        logit = self.dense(h)
        if self.embedding is not None:
            if labels is None:
                raise ValueError(
                    f"this discriminator is conditional ({self.num_classes} classes): pass labels"
                )
            if labels.dim() != 1 or labels.size(0) != h.size(0):
                raise ValueError(f"labels must be (B,) = ({h.size(0)},), got {tuple(labels.shape)}")
            logit = logit + (self.embedding(labels.long()) * h).sum(dim=1, keepdim=True)
        return DiscriminatorOutput([logit], [features])
