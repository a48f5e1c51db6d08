"""Parallel WaveGAN generator (Yamamoto, Song & Kim, 2020): a non-causal WaveNet driven by noise.

mel (B, n_mels, T) -> replication-pad ``aux_context_window`` frames each side -> ``conv_in``
(kernel ``2 * aux_context_window + 1``, no bias) -> per upsampling scale ``s``: nearest-neighbour
stretch by ``s`` and a ``2s + 1``-tap filter shared by every mel channel (no bias) -> the
conditioning ``c`` (B, n_mels, T * hop). The noise (B, 1, T * hop) goes through a 1x1 conv to
``residual_channels``, then ``layers`` gated residual blocks (dilation ``2 ** (i % (layers //
stacks))``): ``g = dilated_conv(x) + aux_1x1(c)``, ``z = tanh(g_a) * sigmoid(g_b)``, skip
``= skip_1x1(z)``, ``x = (x + res_1x1(z)) * sqrt(0.5)``; the skips are summed, scaled by
``sqrt(1 / layers)`` and go through ReLU -> 1x1 -> ReLU -> 1x1 to one output channel (no tanh).
Written from the paper's description and the layer shapes of kan-bayashi/ParallelWaveGAN.

Made for CPU inference (about 2x the reference's speed at the release size), with the same
numbers (float32 rounding aside) and the reference's parametrisation, so training is unchanged:

- the stretch + filter of each scale is a 3-frame polyphase matrix product (output sample
  ``t * s + r`` mixes input frames ``t - 1, t, t + 1``): exact, zero padding included, without
  building the stretched signal;
- the blocks run on time-major (channels-last) tensors, where the dilated conv and the 1x1
  GEMMs are fastest; each block's aux 1x1 is accumulated into its dilated conv's output, its
  skip 1x1 into the running skip sum (the skip biases are summed once, up front), and its
  residual 1x1 into the scaled residual;
- the gate ``tanh(a) * sigmoid(b)`` is ``2 (sigmoid(2a) - 1/2) sigmoid(b)``: one sigmoid over all
  gate channels (tanh is about 3x slower on CPU), the factors 2 applied to the small weights;
- the residual and skip 1x1 convs are one conv (``out``: residual rows first); the last block's
  residual output feeds nothing, so its ``out`` has the skip rows only.

Weight norm (``weight_norm: true``, the default) applies to every conv, the per-scale filters
included, as in the reference; :meth:`Generator.remove_weight_norm` folds it.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import GENERATORS
from audiogan.models.base import Generator
from audiogan.models.layers import apply_weight_norm
from audiogan.models.randomness import keyed_noise


def _phase_index(scale: int) -> Tensor:
    """(3, scale, 2 * scale + 1) 0/1 matrix: entry ``[o + 1, r, j]`` is 1 when tap ``j`` of a
    stretch-then-filter stage reads input frame ``t + o`` for output phase ``r``."""
    index = torch.zeros(3, scale, 2 * scale + 1)
    for r in range(scale):
        for j in range(2 * scale + 1):
            index[(r + j - scale) // scale + 1, r, j] = 1.0
    return index


class ConvInUpsampler(nn.Module):
    """mel (B, n_mels, T + 2 * aux_context_window) -> conditioning (B, n_mels, T * hop).

    ``conv_in`` (no padding: the input is already padded) then, per scale ``s``, a nearest
    stretch by ``s`` followed by ``stretches[i]``, a (1, 1, 2s + 1) filter applied to every
    channel with ``s`` zeros of padding either side (a plain ``Conv1d`` holding the weight, so
    weight norm applies; its ``forward`` is not used).

    Args:
        channels: mel bands.
        aux_context_window: frames of context either side for ``conv_in``.
        upsample_scales: the scales; ``hop`` is their product.
    """

    def __init__(self, channels: int, aux_context_window: int,
                 upsample_scales: tuple[int, ...]) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(channels, channels, 2 * aux_context_window + 1, bias=False)
        stretches = [nn.Conv1d(1, 1, 2 * s + 1, bias=False) for s in upsample_scales]
        for i, (s, stretch) in enumerate(zip(upsample_scales, stretches, strict=True)):
            # the reference's initialisation: a box filter (its stretch convs start as averages)
            nn.init.constant_(stretch.weight, 1.0 / (2 * s + 1))
            self.register_buffer(f"phases_{i}", _phase_index(s), persistent=False)
        self.stretches = nn.ModuleList(stretches)

    def forward(self, mel: Tensor) -> Tensor:
        """mel: (B, n_mels, T + 2 * aux_context_window) -> (B, n_mels, T * hop)."""
        c = self.conv_in(mel)
        for i, stretch in enumerate(self.stretches):
            index: Tensor = getattr(self, f"phases_{i}")
            weight = cast(nn.Conv1d, stretch).weight
            c = stretch_stage(c, torch.matmul(index, weight.reshape(-1)))
        return c


def stretch_stage(x: Tensor, phases: Tensor) -> Tensor:
    """One stretch-and-filter stage as a polyphase product.

    Args:
        x: (B, C, T).
        phases: (3, s): weight of input frame ``t - 1, t, t + 1`` for output phase ``r``.

    Returns:
        (B, C, T * s): ``out[..., t * s + r] = sum_o phases[o, r] * x[..., t + o - 1]`` (frames
        outside ``[0, T)`` are zero).
    """
    batch, channels, frames = x.shape
    padded = F.pad(x, (1, 1))
    taps = torch.stack((padded[..., :-2], padded[..., 1:-1], padded[..., 2:]), dim=-1)
    return torch.matmul(taps, phases).reshape(batch, channels, frames * phases.shape[1])


class GatedBlock(nn.Module):
    """One WaveNet residual block, on time-major tensors: x (B, N, R), c (B, N, n_mels),
    skips (B, N, S) -> (next x (B, N, R), skips + this block's skip without its bias).

    Time-major (channels-last) tensors make the dilated conv and the 1x1 GEMMs fastest on CPU.

    Args:
        residual_channels, gate_channels, skip_channels, aux_channels: channel counts.
        kernel_size: odd kernel of the dilated conv.
        dilation: its dilation.
        dropout: dropout on the block input (training only).
        bias: biases on the dilated conv and on ``out``.
        last: no residual output (the last block's is unused): ``out`` has ``skip_channels``
            rows only and the returned x is the input unchanged.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        gate_scale: Tensor  # buffer (gate_channels,)

    def __init__(self, residual_channels: int, gate_channels: int, skip_channels: int,
                 aux_channels: int, kernel_size: int, dilation: int, dropout: float,
                 bias: bool, last: bool) -> None:
        super().__init__()
        self.dropout = float(dropout)
        self.residual_channels = residual_channels if not last else 0
        self.gate_half = gate_channels // 2
        self.dilation = dilation
        self.padding = (kernel_size - 1) // 2 * dilation
        self.conv = nn.Conv1d(residual_channels, gate_channels, kernel_size,
                              padding=self.padding, dilation=dilation, bias=bias)
        self.aux = nn.Conv1d(aux_channels, gate_channels, 1, bias=False)
        self.out = nn.Conv1d(self.gate_half, self.residual_channels + skip_channels, 1, bias=bias)
        # 2 on the tanh half (tanh(a) = 2 sigmoid(2a) - 1), 1 on the sigmoid half
        scale = torch.tensor([2.0] * self.gate_half + [1.0] * self.gate_half)
        self.register_buffer("gate_scale", scale, persistent=False)

    def forward(self, x: Tensor, c: Tensor, skips: Tensor) -> tuple[Tensor, Tensor]:
        """See the class docstring; shapes (B, N, R), (B, N, n_mels), (B, N, S).

        The gate is ``tanh(a) * sigmoid(b) = 2 (sigmoid(2a) - 1/2) sigmoid(b)`` (see the module
        docstring).
        """
        batch = x.shape[0]
        h = F.dropout(x, self.dropout, self.training) if self.dropout > 0.0 else x
        scale = self.gate_scale
        weight = (self.conv.weight * scale.view(-1, 1, 1)).unsqueeze(2)
        bias = self.conv.bias * scale if self.conv.bias is not None else None
        # (B, N, R) seen as a channels-last (B, R, 1, N) image: the conv output is channels-last
        # too, i.e. (B, N, G) in memory
        g = F.conv2d(h.transpose(1, 2).unsqueeze(2), weight, bias, padding=(0, self.padding),
                     dilation=(1, self.dilation)).squeeze(2).transpose(1, 2)
        aux = (self.aux.weight.squeeze(2) * scale.view(-1, 1)).t().expand(batch, -1, -1)
        # accumulate in place, except under autocast (which computes the product in lower
        # precision and cannot write it into a float32 tensor)
        in_place = not torch.is_autocast_enabled(x.device.type)
        g = (g.baddbmm_(c, aux) if in_place else torch.baddbmm(g, c, aux)).sigmoid_()
        z = (g[..., :self.gate_half] - 0.5) * g[..., self.gate_half:]
        rows = self.residual_channels
        out = self.out.weight.squeeze(2).t()  # (G / 2, R + S)
        skip = (out[:, rows:] * 2.0).expand(batch, -1, -1)
        skips = skips.baddbmm_(z, skip) if in_place else torch.baddbmm(skips, z, skip)
        if rows == 0:
            return x, skips
        half_root = math.sqrt(0.5)
        x = torch.baddbmm(x, z, (out[:, :rows] * (2.0 * half_root)).expand(batch, -1, -1),
                          beta=half_root)
        if self.out.bias is not None:
            x = x.add_(self.out.bias[:rows] * half_root)
        return x, skips

    def skip_bias(self) -> Tensor | None:
        """(S,) the bias of this block's skip output, or None without biases."""
        bias = self.out.bias
        return None if bias is None else bias[self.residual_channels:]


@GENERATORS.register("parallel_wavegan")
class ParallelWaveGAN(Generator):
    """Parallel WaveGAN generator: mel (B, n_mels, T) + noise (B, 1, T * hop) -> wave
    (B, 1, T * hop), unbounded (no tanh, as in the paper).

    About 1.33M parameters at the defaults (weight norm folded).

    Args:
        in_channels: mel bands.
        layers: residual blocks.
        stacks: dilation cycles (``layers`` must be a multiple).
        residual_channels: channels of the residual path.
        gate_channels: channels of the dilated conv (even: tanh half and sigmoid half).
        skip_channels: channels of the skip path and the head.
        kernel_size: odd kernel of the dilated convs.
        aux_context_window: mel frames of context either side of ``conv_in``; the input is
            padded by replicating its edge frames this much (callers pass plain mels).
        upsample_scales: nearest-stretch scales; ``hop_length`` is their product.
        dropout: dropout on each block's input while training.
        bias: biases on the dilated and residual/skip convs.
        weight_norm: weight norm on every conv (folded by ``remove_weight_norm``).
    """

    input_kind = "mel"
    noise_channels = 1

    def __init__(
        self,
        *,
        in_channels: int = 80,
        layers: int = 30,
        stacks: int = 3,
        residual_channels: int = 64,
        gate_channels: int = 128,
        skip_channels: int = 64,
        kernel_size: int = 3,
        aux_context_window: int = 2,
        upsample_scales: tuple[int, ...] = (4, 4, 4, 4),
        dropout: float = 0.0,
        bias: bool = True,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        _check(in_channels, layers, stacks, residual_channels, gate_channels, skip_channels,
               kernel_size, aux_context_window, upsample_scales, dropout,
               {"bias": bias, "weight_norm": weight_norm})
        self.in_channels = in_channels
        self.aux_context_window = aux_context_window
        self.upsample_scales = tuple(int(s) for s in upsample_scales)
        self.hop_length = math.prod(self.upsample_scales)
        self.skip_scale = math.sqrt(1.0 / layers)
        self.skip_channels = skip_channels
        self.upsample = ConvInUpsampler(in_channels, aux_context_window, self.upsample_scales)
        self.first_conv = nn.Conv1d(1, residual_channels, 1)
        per_stack = layers // stacks
        self.blocks = nn.ModuleList(
            GatedBlock(residual_channels, gate_channels, skip_channels, in_channels, kernel_size,
                       2 ** (i % per_stack), dropout, bias, last=i == layers - 1)
            for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, 1, 1))
        stretches = set(self.upsample.stretches)
        for module in self.modules():  # the reference's initialisation (the stretches: a box)
            if isinstance(module, nn.Conv1d) and module not in stretches:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if weight_norm:
            apply_weight_norm(self)
        self.receptive_field_frames = receptive_field_frames(
            layers, stacks, kernel_size, aux_context_window, self.upsample_scales)

    def forward(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        """Synthesise a waveform.

        Args:
            mel: (B, n_mels, T) normalised log-mel spectrogram (not padded).
            noise: (B, 1, T * hop) standard normal noise; ``None`` uses
                ``keyed_noise(0, 0, T * hop)`` for every batch item.

        Returns:
            wave: (B, 1, T * hop).
        """
        batch, frames = mel.shape[0], mel.shape[-1]
        samples = frames * self.hop_length
        if noise is None:
            noise = keyed_noise(0, 0, samples, device=mel.device).to(mel.dtype)
            noise = noise.unsqueeze(0).expand(batch, 1, samples)
        elif tuple(noise.shape) != (batch, 1, samples):
            raise ValueError(f"noise must be ({batch}, 1, {samples}) for a mel of shape "
                             f"{tuple(mel.shape)}, got {tuple(noise.shape)}")
        if self.aux_context_window > 0:
            mel = F.pad(mel, (self.aux_context_window, self.aux_context_window),
                        mode="replicate")
        c = self.upsample(mel).transpose(1, 2).contiguous()  # (B, N, n_mels)
        first = self.first_conv
        x = noise.transpose(1, 2) * first.weight.view(1, 1, -1)  # (B, N, R)
        if first.bias is not None:
            x = x + first.bias
        skips = x.new_zeros(self.skip_channels)  # the skip biases, summed once
        blocks = [cast(GatedBlock, block) for block in self.blocks]
        for block in blocks:
            bias = block.skip_bias()
            if bias is not None:
                skips = skips + bias
        skips = skips.expand(batch, samples, -1).contiguous()
        for block in blocks:
            x, skips = block(x, c, skips)
        conv1, conv2 = cast(nn.Conv1d, self.head[1]), cast(nn.Conv1d, self.head[3])
        h = torch.relu(skips * self.skip_scale)
        h = torch.relu(F.linear(h, conv1.weight.squeeze(2), conv1.bias))
        return F.linear(h, conv2.weight.squeeze(2), conv2.bias).transpose(1, 2)


def receptive_field_frames(layers: int, stacks: int, kernel_size: int,
                           aux_context_window: int, upsample_scales: tuple[int, ...]) -> int:
    """Mel frames either side that can influence one output frame (an upper bound).

    The blocks reach ``(kernel_size - 1) / 2 * sum(dilations)`` samples either side; each
    stretch stage of scale ``s`` reaches one input frame either side; ``conv_in`` reaches
    ``aux_context_window`` frames.
    """
    per_stack = layers // stacks
    reach = (kernel_size - 1) // 2 * sum(2 ** (i % per_stack) for i in range(layers))
    hop = math.prod(upsample_scales)
    lo, hi = -reach, hop - 1 + reach  # samples of output frame 0 and their reach
    for s in reversed(upsample_scales):  # output index n reads input (n - s) // s .. (n + s) // s
        lo, hi = (lo - s) // s, (hi + s) // s
    return max(-lo, hi) + aux_context_window


def _is_int(value: object) -> bool:
    """An integer (a Python or NumPy one), not a bool nor a float such as 4.5."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check(in_channels: int, layers: int, stacks: int, residual_channels: int,
           gate_channels: int, skip_channels: int, kernel_size: int, aux_context_window: int,
           upsample_scales: tuple[int, ...], dropout: float, flags: dict[str, bool]) -> None:
    """Raise ``ValueError`` (one line naming the parameter) for values the network cannot take:
    counts that are not integers >= 1, fractional scales (never rounded), flags that are not
    booleans (a string such as ``"no"`` would otherwise read as true)."""
    positive = {"in_channels": in_channels, "layers": layers, "stacks": stacks,
                "residual_channels": residual_channels, "gate_channels": gate_channels,
                "skip_channels": skip_channels, "kernel_size": kernel_size}
    for name, value in positive.items():
        if not _is_int(value) or value < 1:
            raise ValueError(f"parallel_wavegan {name} must be >= 1 (an integer), got {value!r}")
    if layers % stacks:
        raise ValueError(f"parallel_wavegan layers ({layers}) must be a multiple of stacks "
                         f"({stacks})")
    if gate_channels % 2:
        raise ValueError(f"parallel_wavegan gate_channels must be even (tanh and sigmoid "
                         f"halves), got {gate_channels}")
    if kernel_size % 2 == 0:
        raise ValueError(f"parallel_wavegan kernel_size must be odd (non-causal, "
                         f"length-preserving), got {kernel_size}")
    if not _is_int(aux_context_window) or aux_context_window < 0:
        raise ValueError(f"parallel_wavegan aux_context_window must be >= 0 (an integer), got "
                         f"{aux_context_window!r}")
    if (not isinstance(upsample_scales, list | tuple) or not upsample_scales
            or not all(_is_int(s) and s >= 1 for s in upsample_scales)):
        raise ValueError(f"parallel_wavegan upsample_scales must be a non-empty list of "
                         f"integers >= 1, got {upsample_scales!r}")
    if (isinstance(dropout, bool) or not isinstance(dropout, numbers.Real)
            or not 0.0 <= float(dropout) < 1.0):
        raise ValueError(f"parallel_wavegan dropout must be in [0, 1), got {dropout!r}")
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValueError(f"parallel_wavegan {name} must be true or false, got {flag!r}")


__all__ = ["ConvInUpsampler", "GatedBlock", "ParallelWaveGAN", "receptive_field_frames",
           "stretch_stage"]
