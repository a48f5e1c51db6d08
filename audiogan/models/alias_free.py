"""Alias-free activation: upsample, apply a nonlinearity, low-pass and downsample (BigVGAN).

A pointwise nonlinearity such as Snake creates harmonics above the Nyquist frequency, which fold
back as aliasing. Evaluating it at twice the sample rate, between two windowed-sinc low-pass
filters, keeps those harmonics out of the band:

    x (B, C, T) -> UpSample1d (B, C, 2T) -> activation -> DownSample1d (B, C, T)

The filters are Kaiser-windowed sincs (:func:`kaiser_sinc_filter`) held as buffers named as in
BigVGAN's checkpoints (``upsample.filter``, ``downsample.lowpass.filter``, shape
``(1, 1, kernel_size)``), so those load unchanged. Edges are padded by replication. Plain
PyTorch: no compiled kernel is needed.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models.layers import Span


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser window shape parameter for a stop-band attenuation of ``attenuation_db`` dB
    (Kaiser's empirical formula)."""
    if attenuation_db > 50.0:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db >= 21.0:
        return 0.5842 * (attenuation_db - 21.0) ** 0.4 + 0.07886 * (attenuation_db - 21.0)
    return 0.0


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """A Kaiser-windowed sinc low-pass filter whose taps sum to 1.

    Taps sit at ``t = k - (kernel_size - 1) / 2`` for ``k = 0 .. kernel_size - 1`` (half-integer
    for an even size, centred on a tap for an odd one); ``h(t) = 2 fc sinc(2 fc t) w(t)`` with
    the symmetric Kaiser window ``w`` whose beta follows from the transition band
    ``4 * half_width`` over ``kernel_size // 2`` taps, then normalised to unit sum (no leak of
    the DC component).

    Args:
        cutoff: cut-off frequency ``fc`` as a fraction of the sample rate, in [0, 0.5].
        half_width: half the transition band width, same unit.
        kernel_size: number of taps (>= 2).

    Returns:
        (1, 1, kernel_size) float32 filter (all zeros when ``cutoff`` is 0).

    Raises:
        ValueError: ``cutoff`` outside [0, 0.5] or ``kernel_size`` < 2.
    """
    if not 0.0 <= cutoff <= 0.5:
        raise ValueError(f"low-pass cutoff must be in [0, 0.5] of the sample rate, got {cutoff}")
    if kernel_size < 2:
        raise ValueError(f"low-pass kernel_size must be >= 2, got {kernel_size}")
    # designed once per setting on the CPU, then placed on the default device (a model built
    # under ``torch.device("meta")`` or "cuda" gets its filters there)
    return _design(float(cutoff), float(half_width), int(kernel_size)).to(
        torch.empty(0).device, copy=True)


@functools.cache
def _design(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    cpu = torch.device("cpu")
    if cutoff == 0:
        return torch.zeros(1, 1, kernel_size, device=cpu)
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    window = torch.kaiser_window(kernel_size, periodic=False, beta=kaiser_beta(attenuation),
                                 device=cpu)
    t = torch.arange(kernel_size, dtype=torch.float32, device=cpu) - (kernel_size - 1) / 2
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (taps / taps.sum()).view(1, 1, kernel_size)


class LowPassFilter1d(nn.Module):
    """Depthwise low-pass filter with replicate padding, optionally strided (decimating).

    Args:
        cutoff: cut-off as a fraction of the input sample rate.
        half_width: half transition width, same unit.
        stride: keep every ``stride``-th output sample.
        kernel_size: taps.
        channels: C when known (a constant for tracing and export); 0 reads it from the input.

    Shape:
        x: (B, C, T) -> (B, C, ceil(T / stride)).
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        filter: Tensor  # (1, 1, kernel_size) buffer

    def __init__(self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1,
                 kernel_size: int = 12, channels: int = 0) -> None:
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad_left = kernel_size // 2 - int(kernel_size % 2 == 0)
        self.pad_right = kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, ceil(T / stride))."""
        channels = self.channels if self.channels > 0 else x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride,
                        groups=channels)

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on (interior; padding ignored)."""
        return Span(span.lo * self.stride - self.pad_left,
                    span.hi * self.stride - self.pad_left + self.kernel_size - 1)


class UpSample1d(nn.Module):
    """Insert ``ratio - 1`` zeros between samples and low-pass (cut-off at the old Nyquist).

    Args:
        ratio: upsampling factor.
        kernel_size: interpolation filter taps (default ``6 * ratio`` rounded to even).
        channels: C when known (a constant for tracing and export); 0 reads it from the input.

    Shape:
        x: (B, C, T) -> (B, C, T * ratio).
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        filter: Tensor  # (1, 1, kernel_size) buffer

    def __init__(self, ratio: int = 2, kernel_size: int | None = None, channels: int = 0) -> None:
        super().__init__()
        self.channels = channels
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.pad = self.kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (self.kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
        # a power-of-two ratio scales the output exactly when it scales the filter
        self.exact_scale = ratio & (ratio - 1) == 0
        self.register_buffer(
            "filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, self.kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T * ratio)."""
        channels = self.channels if self.channels > 0 else x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        taps = self.filter
        if self.exact_scale:  # scaling by a power of two is exact: scale the 12 taps instead
            taps = taps * self.ratio
        y = torch.conv_transpose1d(
            x, taps.expand(channels, -1, -1), stride=self.ratio, groups=channels)
        if self.crop_right == 0:
            y = y[..., self.crop_left :]
        else:
            y = y[..., self.crop_left : -self.crop_right]
        return y if self.exact_scale else self.ratio * y

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` (at the high rate) depends on."""
        # output m is transposed-conv sample m + crop_left = ratio * i + j (0 <= j < kernel) of
        # the padded input i, i.e. input i - pad
        lo = -((self.kernel_size - 1 - span.lo - self.crop_left) // self.ratio) - self.pad
        hi = (span.hi + self.crop_left) // self.ratio - self.pad
        return Span(lo, hi)


class DownSample1d(nn.Module):
    """Low-pass at the new Nyquist and keep every ``ratio``-th sample.

    Args:
        ratio: downsampling factor.
        kernel_size: filter taps (default ``6 * ratio`` rounded to even).
        channels: C when known (a constant for tracing and export); 0 reads it from the input.

    Shape:
        x: (B, C, T) -> (B, C, ceil(T / ratio)).
    """

    def __init__(self, ratio: int = 2, kernel_size: int | None = None, channels: int = 0) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, self.kernel_size,
                                       channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, ceil(T / ratio))."""
        return self.lowpass(x)

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on."""
        return self.lowpass.input_span(span)


class Activation1d(nn.Module):
    """``activation`` evaluated at ``ratio`` times the sample rate: up -> act -> down.

    Args:
        activation: a pointwise module, e.g. :class:`~audiogan.models.activations.SnakeBeta`.
        ratio: up- and downsampling factor.
        kernel_size: taps of both filters.
        channels: C; ``None`` takes the activation's ``channels`` attribute (Snake and
            SnakeBeta have one), 0 reads it from the input. A known C keeps the filters' shapes
            constant in a traced or ONNX graph.

    Shape:
        x: (B, C, T) -> (B, C, T).
    """

    def __init__(self, activation: nn.Module, ratio: int = 2, kernel_size: int = 12,
                 channels: int | None = None) -> None:
        super().__init__()
        if channels is None:
            channels = int(getattr(activation, "channels", 0))
        self.act = activation
        self.upsample = UpSample1d(ratio, kernel_size, channels)
        self.downsample = DownSample1d(ratio, kernel_size, channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T)."""
        return self.downsample(self.act(self.upsample(x)))

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on (the activation is pointwise)."""
        return self.upsample.input_span(self.downsample.input_span(span))
