"""HiFi-GAN generator (Kong, Kim & Bae, 2020), presets V1 / V2 / V3.

mel -> conv 7 -> [leaky relu -> transposed conv (x rate) -> multi-receptive-field fusion] per
stage -> leaky relu (slope ``post_negative_slope``) -> conv 7 -> tanh. The multi-receptive-field
fusion (MRF) averages parallel residual blocks with different kernel sizes and dilations.
Written from the paper's description.

Channels halve at every upsampling stage, starting from ``upsample_initial_channel``. Transposed
convolutions pad so that every stage multiplies the length by exactly its rate, for any
(rate, kernel) pair, so the output is always ``frames * prod(upsample_rates)`` samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor, nn

from audiogan.models import GENERATORS
from audiogan.models.base import Generator
from audiogan.models.layers import (
    ExactConvTranspose1d,
    Span,
    apply_weight_norm,
    check_init_std,
    same_padding,
)
from audiogan.models.presets import apply_preset

ResBlockKind = Literal["1", "2"]


@dataclass(frozen=True)
class HiFiGANPreset:
    """Shape of a HiFi-GAN generator (the fields of the paper's configurations).

    Attributes:
        upsample_rates: upsampling factor per stage; their product is the hop length.
        upsample_kernel_sizes: transposed-conv kernel size per stage.
        upsample_initial_channel: channels after the input conv; halved at every stage.
        resblock: ``"1"`` (two convs per dilation) or ``"2"`` (one conv per dilation).
        resblock_kernel_sizes: kernel size of each parallel residual block in the MRF.
        resblock_dilation_sizes: dilations of each parallel residual block in the MRF.
    """

    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock: ResBlockKind
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]


_MRF_V1: dict[str, Any] = {
    "resblock": "1",
    "resblock_kernel_sizes": (3, 7, 11),
    "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
}

#: The paper's three configurations (Table 1: V1 13.92M, V2 0.92M, V3 1.46M parameters).
HIFIGAN_PRESETS: MappingProxyType[str, HiFiGANPreset] = MappingProxyType(
    {
        "v1": HiFiGANPreset(
            upsample_rates=(8, 8, 2, 2),
            upsample_kernel_sizes=(16, 16, 4, 4),
            upsample_initial_channel=512,
            **_MRF_V1,
        ),
        "v2": HiFiGANPreset(
            upsample_rates=(8, 8, 2, 2),
            upsample_kernel_sizes=(16, 16, 4, 4),
            upsample_initial_channel=128,
            **_MRF_V1,
        ),
        "v3": HiFiGANPreset(
            upsample_rates=(8, 8, 4),
            upsample_kernel_sizes=(16, 16, 8),
            upsample_initial_channel=256,
            resblock="2",
            resblock_kernel_sizes=(3, 5, 7),
            resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
        ),
    }
)


class ResBlock(nn.Module):
    """A residual block of the MRF: a chain of residual units at one kernel size.

    Kind ``"1"``: per dilation ``d`` a unit ``lrelu -> conv(k, d) -> lrelu -> conv(k, 1)``.
    Kind ``"2"``: per dilation ``d`` a unit ``lrelu -> conv(k, d)``. Each unit is added to its
    input (``x = x + unit(x)``).

    Args:
        channels: channels in and out.
        kernel_size: odd kernel size of every conv.
        dilations: one residual unit per dilation.
        kind: ``"1"`` or ``"2"``.
        negative_slope: leaky-ReLU slope.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...],
                 kind: ResBlockKind = "1", negative_slope: float = 0.1) -> None:
        super().__init__()
        if kind not in ("1", "2"):
            raise ValueError(f"HiFi-GAN resblock must be '1' or '2', got {kind!r}")
        if not dilations:
            # forward() adds in place into the block's output, which must never be its input
            raise ValueError("HiFi-GAN resblock needs at least one dilation, got none")
        self.units = nn.ModuleList()
        for dilation in dilations:
            layers: list[nn.Module] = [
                nn.LeakyReLU(negative_slope),
                nn.Conv1d(
                    channels,
                    channels,
                    kernel_size,
                    dilation=dilation,
                    padding=same_padding(kernel_size, dilation),
                ),
            ]
            if kind == "1":
                layers += [
                    nn.LeakyReLU(negative_slope),
                    nn.Conv1d(channels, channels, kernel_size, padding=same_padding(kernel_size)),
                ]
            self.units.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, T) -> (B, channels, T)."""
        # In place on the fresh unit output (a conv result, which no backward needs): saves one
        # (B, C, T) allocation per unit, about 8% of V1's CPU inference time. Same values.
        for unit in self.units:
            x = unit(x).add_(x)
        return x

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on (residual paths included)."""
        for unit in reversed(self.units):
            span = span.union(span.before_all([unit]))
        return span


class MRF(nn.Module):
    """Multi-receptive-field fusion: the mean of parallel :class:`ResBlock` outputs.

    Args:
        channels: channels in and out.
        kernel_sizes: kernel size of each parallel block.
        dilation_sizes: dilations of each parallel block.
        kind: residual block kind, ``"1"`` or ``"2"``.
        negative_slope: leaky-ReLU slope.
    """

    def __init__(
        self,
        channels: int,
        kernel_sizes: tuple[int, ...],
        dilation_sizes: tuple[tuple[int, ...], ...],
        kind: ResBlockKind,
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ResBlock(channels, kernel_size, tuple(dilations), kind, negative_slope)
            for kernel_size, dilations in zip(kernel_sizes, dilation_sizes)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, T) -> (B, channels, T)."""
        total = self.blocks[0](x)
        for block in self.blocks[1:]:
            total = total.add_(block(x))
        return total.div_(len(self.blocks))

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on: the union over the parallel blocks."""
        result = span
        for block in self.blocks:
            assert isinstance(block, ResBlock)
            result = result.union(block.input_span(span))
        return result


@GENERATORS.register("hifigan")
class HiFiGANGenerator(Generator):

    """HiFi-GAN generator: mel (B, n_mels, frames) -> wave (B, 1, frames * hop) in [-1, 1].

    Every keyword left as ``None`` takes its value from ``preset``. When ``upsample_rates`` is
    overridden but ``upsample_kernel_sizes`` is not, kernels default to ``2 * rate`` per stage.

    Args:
        preset: ``"v1"``, ``"v2"`` or ``"v3"`` (see :data:`HIFIGAN_PRESETS`).
        in_channels: mel bands of the input.
        upsample_rates: upsampling factor per stage; ``hop_length`` is their product.
        upsample_kernel_sizes: transposed-conv kernel per stage (any size >= 1).
        upsample_initial_channel: channels after the input conv, halved per stage.
        resblock: ``"1"`` or ``"2"``.
        resblock_kernel_sizes: odd kernel size per parallel residual block.
        resblock_dilation_sizes: dilations per parallel residual block.
        negative_slope: leaky-ReLU slope everywhere except right before ``conv_post``.
        post_negative_slope: leaky-ReLU slope right before ``conv_post``. The default 0.01 is
            the reference's (jik876/hifi-gan and ParallelWaveGAN call ``F.leaky_relu`` there with
            the library's default slope); ``None`` means ``negative_slope``, which is what
            audiogan used before config format version 2 (:data:`LEGACY_DEFAULTS`).
        weight_norm: apply weight norm to every conv (fold it away with
            :meth:`remove_weight_norm` for inference).
        init_std: ``None`` (default) keeps PyTorch's default initialisation, which is what
            jik876/hifi-gan and ParallelWaveGAN effectively train from: their N(0, 0.01) draw
            writes into the tensor that old-style weight norm recomputes on the next forward,
            so it never takes effect. A float draws conv weights from N(0, init_std) before
            weight norm, where it does take effect (and, at 0.01, trains slower early on:
            benchmarks/README.md, Quality).

    Example:
        >>> gen = HiFiGANGenerator(preset="v1")
        >>> gen(torch.randn(1, 80, 10)).shape
        torch.Size([1, 1, 2560])
    """

    input_kind = "mel"
    #: config format version -> parameter values that configs of that version (or older) meant
    #: when they left the parameter out (read by :func:`audiogan.config.config_from_dict`).
    LEGACY_DEFAULTS: MappingProxyType[int, dict[str, object]] = MappingProxyType(
        {1: {"post_negative_slope": None}}
    )

    def __init__(
        self,
        *,
        preset: str = "v1",
        in_channels: int = 80,
        upsample_rates: tuple[int, ...] | None = None,
        upsample_kernel_sizes: tuple[int, ...] | None = None,
        upsample_initial_channel: int | None = None,
        resblock: ResBlockKind | None = None,
        resblock_kernel_sizes: tuple[int, ...] | None = None,
        resblock_dilation_sizes: tuple[tuple[int, ...], ...] | None = None,
        negative_slope: float = 0.1,
        post_negative_slope: float | None = 0.01,
        weight_norm: bool = True,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.config = resolve_preset(
            preset, upsample_rates=upsample_rates, upsample_kernel_sizes=upsample_kernel_sizes,
            upsample_initial_channel=upsample_initial_channel, resblock=resblock,
            resblock_kernel_sizes=resblock_kernel_sizes,
            resblock_dilation_sizes=resblock_dilation_sizes)
        cfg = self.config
        self.in_channels = in_channels
        self.hop_length = math.prod(cfg.upsample_rates)
        self.negative_slope = negative_slope

        channels = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(in_channels, channels, 7, padding=3)
        self.upsamples = nn.ModuleList()
        self.mrfs = nn.ModuleList()
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernel_sizes):
            self.upsamples.append(ExactConvTranspose1d(channels, channels // 2, kernel, rate))
            channels //= 2
            self.mrfs.append(
                MRF(
                    channels,
                    cfg.resblock_kernel_sizes,
                    cfg.resblock_dilation_sizes,
                    cfg.resblock,
                    negative_slope,
                )
            )
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)
        self.activation = nn.LeakyReLU(negative_slope)
        self.post_negative_slope = (
            negative_slope if post_negative_slope is None else float(post_negative_slope))
        self.post_activation = nn.LeakyReLU(self.post_negative_slope)
        self.float32_from = -1  # no mixed precision (see keep_float32_tail)

        check_init_std(init_std)
        if init_std is not None:
            for module in self.modules():
                if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                    nn.init.normal_(module.weight, 0.0, init_std)
        if weight_norm:
            apply_weight_norm(self)
        self.receptive_field_frames = self._receptive_field_frames()

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise a waveform.

        Args:
            mel: (B, n_mels, frames) log-mel spectrogram.

        Returns:
            wave: (B, 1, frames * hop_length), tanh-bounded.
        """
        x = self.conv_pre(mel)
        stage = 0
        for upsample, mrf in zip(self.upsamples, self.mrfs):
            x = self.activation(x)
            if stage == self.float32_from:  # mixed precision: the float32 tail starts here
                x = x.float()
            x = mrf(upsample(x))
            stage += 1
        return torch.tanh(self.conv_post(self.post_activation(x)))

    def keep_float32_tail(self, stages: int) -> None:
        """Mixed precision: put the last ``stages`` upsampling stages (transposed conv and MRF)
        and ``conv_post`` back in float32 after the generator was cast to a lower precision;
        the activations are cast up where that tail starts, so the output is float32.

        Measured on jik876's LJSpeech and universal V1 weights (``benchmarks/cpu_paths.py``):
        bfloat16 everywhere raises the log-mel L1 of copy synthesis by 4-7.5 %; with the last
        stage in float32 (~11 % of V1's multiply-adds) by 0.1-0.3 %, ~1.6x float32's speed on
        an AVX512-BF16 CPU.

        Args:
            stages: 1 .. number of upsampling stages.

        Raises:
            ValueError: ``stages`` out of range.
        """
        count = len(self.upsamples)
        if not 1 <= stages <= count:
            raise ValueError(f"keep_float32_tail needs 1..{count} stages, got {stages}")
        for index in range(count - stages, count):
            self.upsamples[index].float()
            self.mrfs[index].float()
        self.conv_post.float()
        self.float32_from = count - stages

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Any:
        """``nn.Module``'s moves and casts; a cast that leaves one dtype everywhere (``.to(dtype)``,
        ``.float()``, ``.half()`` of the generator or a module holding it) also ends the
        mixed-precision tail, whose float32 input would no longer match its weights."""
        result = super()._apply(fn, recurse)
        if self.float32_from >= 0 and len({p.dtype for p in self.parameters()}) == 1:
            self.float32_from = -1
        return result

    def _receptive_field_frames(self) -> int:
        """Mel frames either side of a frame that can influence its output samples.

        Walks the network backwards from the ``hop_length`` samples of output frame 0 to the
        input frames they depend on (exact for the interior; zero padding does not widen it).
        """
        span = Span(0, self.hop_length - 1).before(self.conv_post)
        for upsample, mrf in zip(reversed(self.upsamples), reversed(self.mrfs)):
            assert isinstance(mrf, MRF)
            span = mrf.input_span(span).before(upsample)
        span = span.before(self.conv_pre)
        return max(-span.lo, span.hi)


def resolve_preset(preset: str, **overrides: object) -> HiFiGANPreset:
    """The named preset with the non-``None`` ``overrides`` applied and checked.

    Args:
        preset: ``"v1"``, ``"v2"`` or ``"v3"``.
        **overrides: :class:`HiFiGANPreset` fields; ``None`` keeps the preset's value.

    Returns:
        The validated configuration.

    Raises:
        ValueError: unknown preset or inconsistent fields (the message names them).
    """
    cfg = apply_preset(HIFIGAN_PRESETS, "HiFi-GAN", preset, overrides)

    if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
        raise ValueError(
            "HiFi-GAN upsample_rates and upsample_kernel_sizes need one entry per stage, got "
            f"{cfg.upsample_rates} and {cfg.upsample_kernel_sizes}"
        )
    if not cfg.upsample_rates or min(cfg.upsample_rates + cfg.upsample_kernel_sizes) < 1:
        raise ValueError(f"HiFi-GAN upsample rates and kernels must be >= 1: {cfg}")
    if cfg.upsample_initial_channel >> len(cfg.upsample_rates) < 1:
        raise ValueError(
            f"HiFi-GAN upsample_initial_channel={cfg.upsample_initial_channel} cannot be halved "
            f"{len(cfg.upsample_rates)} times"
        )
    if cfg.resblock not in ("1", "2"):
        raise ValueError(f"HiFi-GAN resblock must be '1' or '2', got {cfg.resblock!r}")
    if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
        raise ValueError(
            "HiFi-GAN resblock_kernel_sizes and resblock_dilation_sizes need one entry per "
            f"block, got {cfg.resblock_kernel_sizes} and {cfg.resblock_dilation_sizes}"
        )
    if not cfg.resblock_kernel_sizes or any(k % 2 == 0 for k in cfg.resblock_kernel_sizes):
        raise ValueError(
            f"HiFi-GAN resblock_kernel_sizes must be odd (length-preserving): "
            f"{cfg.resblock_kernel_sizes}"
        )
    return cfg
