"""Parallel WaveGAN's discriminators (Yamamoto et al., 2020): a non-strided stack of dilated 1-D
convolutions that scores every sample of the waveform, and its WaveNet-style residual variant.

Both keep the time resolution (every convolution is padded to keep the length), so the one logit
tensor has one score per input sample: ``wave (B, 1, T) -> logits [(B, 1, T)]``. Layouts and
defaults are those of kan-bayashi/ParallelWaveGAN's ``ParallelWaveGANDiscriminator`` and
``ResidualParallelWaveGANDiscriminator`` (``parallel_wavegan.v1.yaml``), so that imported weights
(:mod:`audiogan.inference.imports.pwg_discriminators`) score exactly as there:

- ``parallel_wavegan``: ``layers - 1`` convolutions of ``channels`` channels, each followed by a
  leaky ReLU, then one convolution to a single channel without activation. The first layer and
  the last have dilation 1; layer ``i`` (1 <= i <= layers - 2) has dilation ``i`` when
  ``dilation_factor`` is 1, else ``dilation_factor ** i``.
- ``residual_parallel_wavegan``: a 1x1 convolution and leaky ReLU, ``layers`` gated residual
  blocks (dilation ``2 ** (i % (layers / stacks))``, no conditioning input), the skip outputs
  summed and scaled by ``sqrt(1 / layers)``, then leaky ReLU, 1x1, leaky ReLU, 1x1 to one
  channel. The last block has no residual 1x1: its output feeds nothing (the reference computes
  and discards it), and a parameter the scores do not reach would stop a multi-GPU (DDP) run.

Every convolution carries weight norm and starts from the reference's initialisation (Kaiming
normal for ReLU, zero bias).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import DISCRIMINATORS
from audiogan.models.base import Discriminator, DiscriminatorOutput, as_batch_channel_time
from audiogan.models.layers import weight_norm

__all__ = ["ParallelWaveGANDiscriminator", "ResidualParallelWaveGANDiscriminator"]


def _positive(name: str, value: int, minimum: int = 1) -> int:
    """``value`` as an int, or a one-line ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _odd_kernel(kernel_size: int) -> int:
    kernel_size = _positive("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (the convolutions keep the length by padding "
                         f"(kernel_size - 1) / 2 * dilation each side), got {kernel_size}")
    return kernel_size


def _slope(negative_slope: float) -> float:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) \
            or not math.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be a finite number, got {negative_slope!r}")
    return float(negative_slope)


def _bias(bias: bool) -> bool:
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be true or false, got {bias!r}")
    return bias


def _conv(in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1,
          bias: bool = True) -> nn.Module:
    """A length-keeping, weight-normed ``Conv1d`` with the reference's initialisation."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                     padding=(kernel_size - 1) // 2 * dilation, bias=bias)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return weight_norm(conv)


@DISCRIMINATORS.register("parallel_wavegan")
class ParallelWaveGANDiscriminator(Discriminator):
    """Parallel WaveGAN's discriminator: dilated, non-strided 1-D convolutions, one score per
    sample.

    Args:
        layers: number of convolutions (>= 2): ``layers - 1`` with leaky ReLU, then the output
            convolution.
        channels: width of the hidden convolutions (the reference's ``conv_channels``).
        kernel_size: odd kernel size of every convolution.
        dilation_factor: 1 for dilations 1, 1, 2, 3, ..., ``layers - 2``; otherwise
            ``dilation_factor ** i`` for layer ``i`` (the first layer 1); the output conv has 1.
        negative_slope: leaky-ReLU slope.
        bias: whether the convolutions have a bias.

    Attributes:
        dilations: the dilation of every convolution, the output one included.
        receptive_field: how many input samples one score depends on (centred on its sample:
            ``receptive_field // 2`` either side).
    """

    def __init__(self, layers: int = 10, *, channels: int = 64, kernel_size: int = 3,
                 dilation_factor: int = 1, negative_slope: float = 0.2,
                 bias: bool = True) -> None:
        super().__init__()
        layers = _positive("layers", layers, minimum=2)
        channels = _positive("channels", channels)
        kernel_size = _odd_kernel(kernel_size)
        factor = _positive("dilation_factor", dilation_factor)
        self.negative_slope = _slope(negative_slope)
        bias = _bias(bias)
        hidden = [1] + [i if factor == 1 else factor ** i for i in range(1, layers - 1)]
        self.dilations = [*hidden, 1]
        self.receptive_field = (kernel_size - 1) * sum(self.dilations) + 1
        self.convs = nn.ModuleList(
            _conv(1 if i == 0 else channels, channels, kernel_size, dilation, bias)
            for i, dilation in enumerate(hidden))
        self.post = _conv(channels, 1, kernel_size, 1, bias)
        self.names = ["parallel_wavegan"]

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score every sample.

        Args:
            wave: (B, 1, T) or (B, T) waveform, any T >= 1.
            labels: ignored (unconditional).

        Returns:
            ``DiscriminatorOutput`` with one logit tensor (B, 1, T) and one feature list: the
            (B, channels, T) map after every hidden convolution's activation, then the logits.
        """
        x = as_batch_channel_time(wave)
        features: list[Tensor] = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.negative_slope)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return DiscriminatorOutput([x], [features])


class _GatedResidualBlock(nn.Module):
    """WaveNet's residual block without a conditioning input.

    ``h = tanh(a) * sigmoid(b)`` of the two halves of a dilated convolution of the (dropped-out)
    input; returns ``((x + out(h)) * sqrt(0.5), skip(h))``, or ``(None, skip(h))`` for the last
    block (``last``: no ``out`` conv, its residual output would feed nothing).
    """

    def __init__(self, *, residual_channels: int, gate_channels: int, skip_channels: int,
                 kernel_size: int, dilation: int, dropout: float, bias: bool,
                 last: bool) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv = _conv(residual_channels, gate_channels, kernel_size, dilation, bias)
        self.out = None if last else _conv(gate_channels // 2, residual_channels, bias=bias)
        self.skip = _conv(gate_channels // 2, skip_channels, bias=bias)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        """x (B, residual_channels, T) -> residual output (B, residual_channels, T), None for
        the last block, and skip output (B, skip_channels, T)."""
        gate = self.conv(F.dropout(x, p=self.dropout, training=self.training))
        a, b = gate.chunk(2, dim=1)
        h = torch.tanh(a) * torch.sigmoid(b)
        residual = None if self.out is None else (self.out(h) + x) * math.sqrt(0.5)
        return residual, self.skip(h)


@DISCRIMINATORS.register("residual_parallel_wavegan")
class ResidualParallelWaveGANDiscriminator(Discriminator):
    """Parallel WaveGAN's residual discriminator: a non-causal WaveNet without conditioning,
    one score per sample.

    Args:
        layers: number of gated residual blocks.
        stacks: dilation cycles (``layers`` must be a multiple): block ``i`` has dilation
            ``2 ** (i % (layers // stacks))``.
        residual_channels: width of the residual path.
        gate_channels: output channels of each dilated convolution (even: two gate halves).
        skip_channels: width of the skip path and the head.
        kernel_size: odd kernel size of the dilated convolutions.
        dropout: dropout probability on each block's input while training (in [0, 1)).
        negative_slope: leaky-ReLU slope.
        bias: whether the blocks' convolutions have a bias (the first 1x1 and the head always
            do).

    Attributes:
        dilations: the dilation of every block.
        receptive_field: how many input samples one score depends on (centred on its sample).
    """

    def __init__(self, layers: int = 30, *, stacks: int = 3, residual_channels: int = 64,
                 gate_channels: int = 128, skip_channels: int = 64, kernel_size: int = 3,
                 dropout: float = 0.0, negative_slope: float = 0.2, bias: bool = True) -> None:
        super().__init__()
        layers = _positive("layers", layers)
        stacks = _positive("stacks", stacks)
        if layers % stacks:
            raise ValueError(f"layers ({layers}) must be a multiple of stacks ({stacks})")
        residual_channels = _positive("residual_channels", residual_channels)
        skip_channels = _positive("skip_channels", skip_channels)
        gate_channels = _positive("gate_channels", gate_channels, minimum=2)
        if gate_channels % 2:
            raise ValueError(f"gate_channels must be even (two halves: tanh and sigmoid), got "
                             f"{gate_channels}")
        kernel_size = _odd_kernel(kernel_size)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.negative_slope = _slope(negative_slope)
        bias = _bias(bias)
        per_stack = layers // stacks
        self.dilations = [2 ** (i % per_stack) for i in range(layers)]
        self.receptive_field = (kernel_size - 1) * sum(self.dilations) + 1
        self.first = _conv(1, residual_channels)
        self.blocks = nn.ModuleList(
            _GatedResidualBlock(residual_channels=residual_channels, gate_channels=gate_channels,
                                skip_channels=skip_channels, kernel_size=kernel_size,
                                dilation=dilation, dropout=float(dropout), bias=bias,
                                last=i == layers - 1)
            for i, dilation in enumerate(self.dilations))
        self.head = _conv(skip_channels, skip_channels)
        self.post = _conv(skip_channels, 1)
        self.names = ["residual_parallel_wavegan"]

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score every sample.

        Args:
            wave: (B, 1, T) or (B, T) waveform, any T >= 1.
            labels: ignored (unconditional).

        Returns:
            ``DiscriminatorOutput`` with one logit tensor (B, 1, T) and one feature list: the
            first layer's activation (B, residual_channels, T), the residual output of every
            block but the last (B, residual_channels, T), the head's hidden activation
            (B, skip_channels, T), then the logits.
        """
        first = F.leaky_relu(self.first(as_batch_channel_time(wave)), self.negative_slope)
        features = [first]
        x: Tensor | None = first
        skips: Tensor | None = None
        for block in self.blocks:
            assert x is not None  # only the last block returns no residual output
            x, skip = block(x)
            if x is not None:
                features.append(x)
            skips = skip if skips is None else skips + skip
        assert skips is not None  # layers >= 1
        h = F.leaky_relu(skips * math.sqrt(1.0 / len(self.blocks)), self.negative_slope)
        h = F.leaky_relu(self.head(h), self.negative_slope)
        features.append(h)
        logits = self.post(h)
        features.append(logits)
        return DiscriminatorOutput([logits], [features])
