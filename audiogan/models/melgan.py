"""MelGAN (Kumar et al., 2019) and multi-band MelGAN (Yang et al., 2020) generators.

MelGAN: reflect-pad + conv 7 -> per stage [leaky relu -> transposed conv (kernel 2 x rate)
-> residual stack (dilations 1, 3, 9)] -> leaky relu -> reflect-pad + conv 7 -> tanh, channels
halving per stage. Each residual unit is ``lrelu -> reflect-pad -> conv 3 (dilated) -> lrelu ->
conv 1`` added to a 1x1-conv shortcut of its input. Written from the papers' descriptions.

Multi-band MelGAN: the same body (384 channels, rates 8, 4, 2, stacks of dilations 1, 3, 9, 27)
emits ``subbands`` signals at ``hop / subbands`` samples per frame; a :class:`PQMF` synthesis
filter bank merges them into the full-band waveform.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import GENERATORS, melgan_inference
from audiogan.models.base import Generator
from audiogan.models.layers import ExactConvTranspose1d, Span, apply_weight_norm, check_init_std
from audiogan.models.pqmf import PQMF


class MirrorPad1d(nn.ReflectionPad1d):
    """Reflection padding that also accepts inputs no longer than the padding.

    Plain reflection (``F.pad(mode="reflect")``) needs ``padding < length``; shorter inputs
    (a 1-frame mel, a short streaming chunk) are mirrored repeatedly instead (symmetric
    periodic extension; a single sample is repeated). Identical to reflection otherwise.
    """

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T + left + right)."""
        left, right = self.padding
        length = x.shape[-1]
        if max(left, right) < length:
            return F.pad(x, (left, right), mode="reflect")
        index = torch.arange(-left, length + right, device=x.device)
        if length == 1:
            return x[..., index.clamp(0, 0)]
        period = 2 * (length - 1)
        index = index.remainder(period)
        index = torch.where(index < length, index, period - index)
        return x[..., index]


class ResidualUnit(nn.Module):
    """One MelGAN residual unit: ``shortcut(x) + block(x)``, length-preserving.

    Args:
        channels: channels in and out.
        dilation: dilation of the kernel-``kernel_size`` conv.
        kernel_size: odd kernel size of the dilated conv.
        negative_slope: leaky-ReLU slope.
    """

    def __init__(
        self, channels: int, dilation: int, kernel_size: int = 3, negative_slope: float = 0.2
    ) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(negative_slope),
            MirrorPad1d(dilation * (kernel_size - 1) // 2),
            nn.Conv1d(channels, channels, kernel_size, dilation=dilation),
            nn.LeakyReLU(negative_slope),
            nn.Conv1d(channels, channels, 1),
        )
        self.shortcut = nn.Conv1d(channels, channels, 1)
        self.negative_slope = float(negative_slope)
        self.padded = dilation * (kernel_size - 1) // 2 > 0

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, T) -> (B, channels, T).

        ``shortcut(x) + block(x)`` with two fewer passes over the activations: the leaky ReLU
        runs in place on the padded copy (it commutes with reflection padding), the second in
        place on the conv's output, and the block's output is added in place (the same values;
        autograd-safe: no overwritten tensor is saved for backward).
        """
        slope = self.negative_slope
        inplace = slope >= 0  # autograd cannot invert an in-place leaky ReLU with a slope < 0
        if self.padded:
            h = F.leaky_relu(self.block[1](x), slope, inplace=inplace)  # a fresh padded copy
        else:  # kernel 1: no padding, nothing to overwrite
            h = F.leaky_relu(x, slope)
        h = F.leaky_relu(self.block[2](h), slope, inplace=inplace)
        return self.shortcut(x).add_(self.block[4](h))

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on."""
        return span.before(self.shortcut).union(span.before_all(self.block))


class MelGANBody(nn.Module):
    """The MelGAN network: mel (B, n_mels, frames) -> (B, out_channels, frames * prod(rates)).

    Args:
        in_channels: mel bands.
        out_channels: output signals (1 for MelGAN, the sub-band count for multi-band).
        upsample_rates: upsampling factor per stage; transposed-conv kernels are ``2 * rate``.
        channels: channels after the input conv, halved per stage.
        kernel_size: odd kernel of the input and output convs.
        resstack_dilations: dilation of each residual unit in a stage's stack.
        resstack_kernel_size: odd kernel of the dilated convs.
        negative_slope: leaky-ReLU slope.
        init_std: ``None`` keeps PyTorch's default initialisation; a float draws conv weights
            from N(0, init_std).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        upsample_rates: tuple[int, ...],
        channels: int,
        kernel_size: int = 7,
        resstack_dilations: tuple[int, ...] = (1, 3, 9),
        resstack_kernel_size: int = 3,
        negative_slope: float = 0.2,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        if not upsample_rates or min(upsample_rates) < 1:
            raise ValueError(f"MelGAN upsample_rates must be >= 1, got {upsample_rates}")
        if kernel_size % 2 == 0 or resstack_kernel_size % 2 == 0:
            raise ValueError(
                "MelGAN kernel_size and resstack_kernel_size must be odd (length-preserving), "
                f"got {kernel_size} and {resstack_kernel_size}"
            )
        if channels >> len(upsample_rates) < 1:
            raise ValueError(
                f"MelGAN channels={channels} cannot be halved {len(upsample_rates)} times"
            )
        layers: list[nn.Module] = [
            MirrorPad1d(kernel_size // 2),
            nn.Conv1d(in_channels, channels, kernel_size),
        ]
        for rate in upsample_rates:
            layers += [
                nn.LeakyReLU(negative_slope),
                ExactConvTranspose1d(channels, channels // 2, 2 * rate, rate),
            ]
            channels //= 2
            layers += [
                ResidualUnit(channels, dilation, resstack_kernel_size, negative_slope)
                for dilation in resstack_dilations
            ]
        layers += [
            nn.LeakyReLU(negative_slope),
            MirrorPad1d(kernel_size // 2),
            nn.Conv1d(channels, out_channels, kernel_size),
            nn.Tanh(),
        ]
        self.layers = nn.Sequential(*layers)
        check_init_std(init_std)
        if init_std is not None:
            for module in self.modules():
                if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                    nn.init.normal_(module.weight, 0.0, init_std)

    def forward(self, mel: Tensor) -> Tensor:
        """mel: (B, n_mels, frames) -> (B, out_channels, frames * prod(upsample_rates)).

        Without autograd on float32 CPU tensors (eager), :mod:`audiogan.models.melgan_inference`
        computes the same output with channels-last convolutions (faster on CPUs).
        """
        if not torch.jit.is_scripting() and melgan_inference.applies(self, mel):
            return self._fast_forward(mel)
        return self.layers(mel)

    @torch.jit.unused
    def _fast_forward(self, mel):  # unannotated: TorchScript reads an unused method's types
        return melgan_inference.forward(self, mel)

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on."""
        for layer in reversed(self.layers):
            span = layer.input_span(span) if isinstance(layer, ResidualUnit) else span.before(layer)
        return span


def _attach_body(
    generator: MelGANGenerator | MultiBandMelGANGenerator,
    out_channels: int,
    channels: int,
    kernel_size: int,
    resstack_dilations: tuple[int, ...],
    resstack_kernel_size: int,
    negative_slope: float,
    weight_norm: bool,
    init_std: float | None,
) -> None:
    """Give a (multi-band) MelGAN generator its ``body`` for its ``in_channels`` and
    ``upsample_rates``, weight-normed when ``weight_norm`` (before any PQMF is attached)."""
    generator.body = MelGANBody(
        in_channels=generator.in_channels,
        out_channels=out_channels,
        upsample_rates=generator.upsample_rates,
        channels=channels,
        kernel_size=kernel_size,
        resstack_dilations=tuple(resstack_dilations),
        resstack_kernel_size=resstack_kernel_size,
        negative_slope=negative_slope,
        init_std=init_std,
    )
    if weight_norm:
        apply_weight_norm(generator)


class _MelGANFamily(Generator):
    """What the MelGAN generators share: a :class:`MelGANBody` set by ``_attach_body``, mel
    input."""

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        body: MelGANBody

    input_kind = "mel"


@GENERATORS.register("melgan")
class MelGANGenerator(_MelGANFamily):
    """MelGAN generator: mel (B, n_mels, frames) -> wave (B, 1, frames * hop) in [-1, 1].

    About 4.26M parameters at the default 512 channels (weight norm folded).

    Args:
        in_channels: mel bands of the input.
        upsample_rates: upsampling factor per stage; ``hop_length`` is their product.
        channels: channels after the input conv, halved per stage.
        kernel_size: odd kernel of the input and output convs.
        resstack_dilations: dilations of the residual units of each stage.
        resstack_kernel_size: odd kernel of the dilated convs.
        negative_slope: leaky-ReLU slope.
        weight_norm: apply weight norm to every conv.
        init_std: ``None`` (default) keeps PyTorch's default initialisation, which is what
            descriptinc/melgan-neurips and ParallelWaveGAN effectively train from: their
            N(0, 0.02) draw writes into the tensor that old-style weight norm recomputes on the
            next forward. A float draws conv weights from N(0, init_std) before weight norm,
            where it takes effect.
    """


    def __init__(
        self,
        *,
        in_channels: int = 80,
        upsample_rates: tuple[int, ...] = (8, 8, 2, 2),
        channels: int = 512,
        kernel_size: int = 7,
        resstack_dilations: tuple[int, ...] = (1, 3, 9),
        resstack_kernel_size: int = 3,
        negative_slope: float = 0.2,
        weight_norm: bool = True,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.upsample_rates = tuple(int(rate) for rate in upsample_rates)
        self.hop_length = math.prod(self.upsample_rates)
        _attach_body(self, 1, channels, kernel_size, resstack_dilations, resstack_kernel_size,
                     negative_slope, weight_norm, init_std)
        span = self.body.input_span(Span(0, self.hop_length - 1))
        self.receptive_field_frames = max(-span.lo, span.hi)

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise a waveform.

        Args:
            mel: (B, n_mels, frames) log-mel spectrogram.

        Returns:
            wave: (B, 1, frames * hop_length), tanh-bounded.
        """
        return self.body(mel)


@GENERATORS.register("multiband_melgan")
class MultiBandMelGANGenerator(_MelGANFamily):
    """Multi-band MelGAN: mel (B, n_mels, frames) -> wave (B, 1, frames * hop).

    The body predicts ``subbands`` tanh-bounded signals at ``hop / subbands`` samples per frame
    (:meth:`forward_subbands`, what the sub-band STFT loss compares against
    ``pqmf.analysis(real)``); :attr:`pqmf` synthesis merges them. ``hop_length`` is
    ``prod(upsample_rates) * subbands``.

    Args:
        in_channels: mel bands of the input.
        subbands: number of PQMF bands.
        upsample_rates: upsampling factor per stage (at the sub-band rate).
        channels: channels after the input conv, halved per stage.
        kernel_size: odd kernel of the input and output convs.
        resstack_dilations: dilations of the residual units of each stage.
        resstack_kernel_size: odd kernel of the dilated convs.
        negative_slope: leaky-ReLU slope.
        pqmf_taps: PQMF filter order.
        pqmf_cutoff_ratio: PQMF prototype cut-off (fraction of Nyquist).
        pqmf_beta: PQMF Kaiser window beta.
        pqmf_scaled: unit-DC-gain PQMF prototype (default); ``False`` keeps ParallelWaveGAN's
            unscaled windowed sinc (set by ``audiogan import`` for its checkpoints).
        weight_norm, init_std: as for :class:`MelGANGenerator`.
    """


    def __init__(
        self,
        *,
        in_channels: int = 80,
        subbands: int = 4,
        upsample_rates: tuple[int, ...] = (8, 4, 2),
        channels: int = 384,
        kernel_size: int = 7,
        resstack_dilations: tuple[int, ...] = (1, 3, 9, 27),
        resstack_kernel_size: int = 3,
        negative_slope: float = 0.2,
        pqmf_taps: int = 62, pqmf_cutoff_ratio: float = 0.142, pqmf_beta: float = 9.0,
        pqmf_scaled: bool = True,
        weight_norm: bool = True,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.subbands = subbands
        self.upsample_rates = tuple(int(rate) for rate in upsample_rates)
        self.hop_length = math.prod(self.upsample_rates) * subbands
        _attach_body(self, subbands, channels, kernel_size, resstack_dilations,
                     resstack_kernel_size, negative_slope, weight_norm, init_std)
        self.pqmf = PQMF(subbands, pqmf_taps, pqmf_cutoff_ratio, pqmf_beta, pqmf_scaled)

        # Full-band samples of output frame 0 -> sub-band samples (the synthesis is a transposed
        # conv of kernel taps + 1, stride subbands, padding taps / 2) -> mel frames.
        synthesis = nn.ConvTranspose1d(subbands, 1, pqmf_taps + 1, subbands, pqmf_taps // 2)
        span = Span(0, self.hop_length - 1).before(synthesis)
        span = self.body.input_span(span)
        self.receptive_field_frames = max(-span.lo, span.hi)

    def forward_subbands(self, mel: Tensor) -> Tensor:
        """Predict the sub-band signals.

        Args:
            mel: (B, n_mels, frames) log-mel spectrogram.

        Returns:
            (B, subbands, frames * hop_length // subbands).
        """
        return self.body(mel)

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise a full-band waveform.

        Args:
            mel: (B, n_mels, frames) log-mel spectrogram.

        Returns:
            wave: (B, 1, frames * hop_length).
        """
        return self.pqmf.synthesis(self.forward_subbands(mel))


__all__ = ["MelGANBody", "MelGANGenerator", "MultiBandMelGANGenerator", "ResidualUnit"]
