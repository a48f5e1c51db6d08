"""BigVGAN and BigVGAN-v2 generator (Lee et al., 2023; NVIDIA's v2 release), with the shapes
of every published configuration as presets.

mel -> conv 7 -> [transposed conv (x rate) -> mean of AMP blocks] per stage -> alias-free
Snake/SnakeBeta -> conv 7 -> tanh (or clamp to [-1, 1]). An anti-aliased multi-periodicity (AMP)
block is HiFi-GAN's residual block with every leaky ReLU replaced by a periodic activation
evaluated at twice the sample rate (:class:`~audiogan.models.alias_free.Activation1d`).

Module and parameter names follow NVIDIA's ``BigVGAN`` class (``conv_pre``, ``ups.<i>.0``,
``resblocks.<i>.convs1/convs2/activations``, ``activation_post``, ``conv_post``, the filters'
buffers), so its state dict maps one to one apart from the weight-norm storage. Channels halve at
every stage; every stage multiplies the length by exactly its rate, so the output is
``frames * prod(upsample_rates)`` samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor, nn

from audiogan.models import GENERATORS
from audiogan.models.activations import snake_activation
from audiogan.models.alias_free import Activation1d
from audiogan.models.base import Generator
from audiogan.models.layers import ExactConvTranspose1d, Span, apply_weight_norm, same_padding
from audiogan.models.presets import apply_preset

ResBlockKind = Literal["1", "2"]
ActivationKind = Literal["snake", "snakebeta"]


@dataclass(frozen=True)
class BigVGANPreset:
    """Shape of a BigVGAN generator (the generator fields of NVIDIA's ``configs/*.json``).

    Attributes:
        upsample_rates: upsampling factor per stage; their product is the hop length.
        upsample_kernel_sizes: transposed-conv kernel per stage.
        upsample_initial_channel: channels after the input conv; halved at every stage.
        resblock: ``"1"`` (two convs per dilation) or ``"2"`` (one conv per dilation).
        resblock_kernel_sizes: kernel size of each parallel AMP block of a stage.
        resblock_dilation_sizes: dilations of each parallel AMP block.
        activation: ``"snake"`` or ``"snakebeta"``.
        snake_logscale: activation parameters stored as logarithms.
        use_tanh_at_final: tanh on the output; otherwise it is clamped to [-1, 1].
        use_bias_at_final: the output conv has a bias.
        num_mels: mel bands the configuration was published with (the default input channels).
    """

    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock: ResBlockKind
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    activation: ActivationKind
    snake_logscale: bool
    use_tanh_at_final: bool
    use_bias_at_final: bool
    num_mels: int


_AMP: dict[str, Any] = {
    "resblock": "1",
    "resblock_kernel_sizes": (3, 7, 11),
    "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    "activation": "snakebeta",
    "snake_logscale": True,
}
_LARGE_256X: dict[str, Any] = {
    "upsample_rates": (4, 4, 2, 2, 2, 2),
    "upsample_kernel_sizes": (8, 8, 4, 4, 4, 4),
    "upsample_initial_channel": 1536,
    **_AMP,
}
_BASE_256X: dict[str, Any] = {
    "upsample_rates": (8, 8, 2, 2),
    "upsample_kernel_sizes": (16, 16, 4, 4),
    "upsample_initial_channel": 512,
    **_AMP,
}
_V1: dict[str, Any] = {"use_tanh_at_final": True, "use_bias_at_final": True}
_V2: dict[str, Any] = {"use_tanh_at_final": False, "use_bias_at_final": False}

#: Every published configuration (NVIDIA/BigVGAN ``configs/bigvgan_<name>.json``): v2
#: ``*_256x`` / ``*_512x`` and v1 (large and ``base_``). Features and loss settings are not part
#: of the generator; a preset only fixes its shape.
BIGVGAN_PRESETS: MappingProxyType[str, BigVGANPreset] = MappingProxyType(
    {
        "22khz_80band_256x": BigVGANPreset(**_LARGE_256X, **_V2, num_mels=80),
        "22khz_80band_fmax8k_256x": BigVGANPreset(**_LARGE_256X, **_V2, num_mels=80),
        "24khz_100band_256x": BigVGANPreset(**_LARGE_256X, **_V2, num_mels=100),
        "44khz_128band_256x": BigVGANPreset(**_LARGE_256X, **_V2, num_mels=128),
        "44khz_128band_512x": BigVGANPreset(
            **{**_LARGE_256X, "upsample_rates": (8, 4, 2, 2, 2, 2),
               "upsample_kernel_sizes": (16, 8, 4, 4, 4, 4)}, **_V2, num_mels=128),
        "22khz_80band": BigVGANPreset(**_LARGE_256X, **_V1, num_mels=80),
        "24khz_100band": BigVGANPreset(**_LARGE_256X, **_V1, num_mels=100),
        "base_22khz_80band": BigVGANPreset(**_BASE_256X, **_V1, num_mels=80),
        "base_24khz_100band": BigVGANPreset(**_BASE_256X, **_V1, num_mels=100),
    }
)


def _activations(count: int, kind: str, channels: int, logscale: bool) -> nn.ModuleList:
    return nn.ModuleList(
        Activation1d(snake_activation(kind, channels, logscale)) for _ in range(count))


class AMPBlock1(nn.Module):
    """AMP block, kind ``"1"``: per dilation ``d`` a residual unit
    ``act -> conv(k, d) -> act -> conv(k, 1)``, each ``act`` an alias-free Snake/SnakeBeta.

    ``activations`` alternate: ``2 * i`` before ``convs1[i]``, ``2 * i + 1`` before
    ``convs2[i]``.

    Args:
        channels: channels in and out.
        kernel_size: odd kernel size of every conv.
        dilations: one residual unit per dilation.
        activation: ``"snake"`` or ``"snakebeta"``.
        logscale: activation parameters stored as logarithms.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...],
                 activation: str, logscale: bool) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d,
                      padding=same_padding(kernel_size, d)) for d in dilations)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=same_padding(kernel_size))
            for _ in dilations)
        self.activations = _activations(2 * len(dilations), activation, channels, logscale)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, T) -> (B, channels, T)."""
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.activations[0::2],
                                            self.activations[1::2]):
            # in place on the fresh conv output (which no backward needs): one allocation fewer
            x = conv2(act2(conv1(act1(x)))).add_(x)
        return x

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on (residual paths included)."""
        units = list(zip(self.convs1, self.convs2))
        for i in reversed(range(len(units))):
            conv1, conv2 = units[i]
            act1, act2 = self.activations[2 * i], self.activations[2 * i + 1]
            assert isinstance(act1, Activation1d) and isinstance(act2, Activation1d)
            inner = act1.input_span(act2.input_span(span.before(conv2)).before(conv1))
            span = span.union(inner)
        return span


class AMPBlock2(nn.Module):
    """AMP block, kind ``"2"``: per dilation ``d`` a residual unit ``act -> conv(k, d)``.

    Args:
        channels: channels in and out.
        kernel_size: odd kernel size of every conv.
        dilations: one residual unit per dilation.
        activation: ``"snake"`` or ``"snakebeta"``.
        logscale: activation parameters stored as logarithms.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...],
                 activation: str, logscale: bool) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d,
                      padding=same_padding(kernel_size, d)) for d in dilations)
        self.activations = _activations(len(dilations), activation, channels, logscale)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, T) -> (B, channels, T)."""
        for conv, act in zip(self.convs, self.activations):
            x = conv(act(x)).add_(x)
        return x

    def input_span(self, span: Span) -> Span:
        """Input indices the output ``span`` depends on (residual paths included)."""
        for conv, act in reversed(list(zip(self.convs, self.activations))):
            assert isinstance(act, Activation1d)
            span = span.union(act.input_span(span.before(conv)))
        return span


@GENERATORS.register("bigvgan")
class BigVGANGenerator(Generator):
    """BigVGAN generator: mel (B, n_mels, frames) -> wave (B, 1, frames * hop) in [-1, 1].

    Every keyword left as ``None`` takes its value from ``preset`` (see
    :data:`BIGVGAN_PRESETS`). When ``upsample_rates`` is overridden but
    ``upsample_kernel_sizes`` is not, kernels default to ``2 * rate`` per stage. Transposed
    convolutions always multiply the length by exactly their rate; for kernels with an even
    ``kernel - rate`` (every published shape) their padding is NVIDIA's.

    Args:
        preset: a :data:`BIGVGAN_PRESETS` name, e.g. ``"24khz_100band_256x"`` (v2) or
            ``"base_22khz_80band"`` (v1).
        in_channels: mel bands of the input (default: the preset's ``num_mels``).
        upsample_rates: upsampling factor per stage; ``hop_length`` is their product.
        upsample_kernel_sizes: transposed-conv kernel per stage.
        upsample_initial_channel: channels after the input conv, halved per stage.
        resblock: ``"1"`` or ``"2"`` (AMP block kind).
        resblock_kernel_sizes: odd kernel size per parallel AMP block.
        resblock_dilation_sizes: dilations per parallel AMP block.
        activation: ``"snake"`` or ``"snakebeta"``.
        snake_logscale: store the activations' parameters as logarithms.
        use_tanh_at_final: tanh on the output; ``False`` clamps it to [-1, 1] instead.
        use_bias_at_final: give the output conv a bias.
        weight_norm: apply weight norm to every conv (fold it away with
            :meth:`remove_weight_norm` for inference).

    Example:
        >>> gen = BigVGANGenerator(preset="base_22khz_80band", upsample_initial_channel=32)
        >>> gen(torch.randn(1, 80, 10)).shape
        torch.Size([1, 1, 2560])
    """

    input_kind = "mel"

    def __init__(
        self,
        *,
        preset: str = "22khz_80band_256x",
        in_channels: int | None = None,
        upsample_rates: tuple[int, ...] | None = None,
        upsample_kernel_sizes: tuple[int, ...] | None = None,
        upsample_initial_channel: int | None = None,
        resblock: ResBlockKind | None = None,
        resblock_kernel_sizes: tuple[int, ...] | None = None,
        resblock_dilation_sizes: tuple[tuple[int, ...], ...] | None = None,
        activation: ActivationKind | None = None,
        snake_logscale: bool | None = None,
        use_tanh_at_final: bool | None = None,
        use_bias_at_final: bool | None = None,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.config = resolve_preset(
            preset, num_mels=in_channels, upsample_rates=upsample_rates,
            upsample_kernel_sizes=upsample_kernel_sizes,
            upsample_initial_channel=upsample_initial_channel, resblock=resblock,
            resblock_kernel_sizes=resblock_kernel_sizes,
            resblock_dilation_sizes=resblock_dilation_sizes, activation=activation,
            snake_logscale=snake_logscale, use_tanh_at_final=use_tanh_at_final,
            use_bias_at_final=use_bias_at_final)
        cfg = self.config
        self.in_channels = cfg.num_mels
        self.hop_length = math.prod(cfg.upsample_rates)
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.use_tanh_at_final = cfg.use_tanh_at_final

        channels = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.num_mels, channels, 7, padding=3)
        block = AMPBlock1 if cfg.resblock == "1" else AMPBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernel_sizes):
            self.ups.append(nn.ModuleList(
                [ExactConvTranspose1d(channels, channels // 2, kernel, rate)]))
            channels //= 2
            for kernel_size, dilations in zip(cfg.resblock_kernel_sizes,
                                              cfg.resblock_dilation_sizes):
                self.resblocks.append(block(channels, kernel_size, dilations, cfg.activation,
                                            cfg.snake_logscale))
        self.activation_post = Activation1d(
            snake_activation(cfg.activation, channels, cfg.snake_logscale))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=cfg.use_bias_at_final)
        if weight_norm:
            apply_weight_norm(self)
        self.receptive_field_frames = self._receptive_field_frames()

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise a waveform.

        Args:
            mel: (B, in_channels, frames) log-mel spectrogram.

        Returns:
            wave: (B, 1, frames * hop_length) in [-1, 1].
        """
        x = self.conv_pre(mel)
        for i, stage in enumerate(self.ups):
            for upsample in stage:  # type: ignore[attr-defined]  # a ModuleList
                x = upsample(x)
            total = x  # replaced by the stage's first block (a value TorchScript can type)
            for j, resblock in enumerate(self.resblocks):
                if i * self.num_kernels <= j < (i + 1) * self.num_kernels:
                    # the blocks' outputs are fresh tensors: summed in place
                    total = resblock(x) if j == i * self.num_kernels else total.add_(resblock(x))
            x = total.div_(self.num_kernels)
        x = self.conv_post(self.activation_post(x))
        if self.use_tanh_at_final:
            return torch.tanh(x)
        return torch.clamp(x, min=-1.0, max=1.0)

    def _receptive_field_frames(self) -> int:
        """Mel frames either side of a frame that can influence its output samples.

        Walks the network backwards from the ``hop_length`` samples of output frame 0 to the
        input frames they depend on (exact for the interior; padding does not widen it).
        """
        span = self.activation_post.input_span(
            Span(0, self.hop_length - 1).before(self.conv_post))
        stages = list(self.ups)
        for i in reversed(range(len(stages))):
            result = span
            for resblock in list(self.resblocks)[i * self.num_kernels:
                                                 (i + 1) * self.num_kernels]:
                assert isinstance(resblock, (AMPBlock1, AMPBlock2))
                result = result.union(resblock.input_span(span))
            span = result.before_all(stages[i].children())
        span = span.before(self.conv_pre)
        return max(-span.lo, span.hi)


def resolve_preset(preset: str, **overrides: object) -> BigVGANPreset:
    """The named preset with the non-``None`` ``overrides`` applied and checked.

    Args:
        preset: a :data:`BIGVGAN_PRESETS` name.
        **overrides: :class:`BigVGANPreset` fields; ``None`` keeps the preset's value.

    Returns:
        The validated configuration.

    Raises:
        ValueError: unknown preset or inconsistent fields (the message names them).
        TypeError: an unknown field.
    """
    cfg = apply_preset(BIGVGAN_PRESETS, "BigVGAN", preset, overrides)
    _check(cfg)
    return cfg


def _check(cfg: BigVGANPreset) -> None:
    """Raise ``ValueError`` naming the first inconsistent field of ``cfg``."""
    if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
        raise ValueError(
            "BigVGAN upsample_rates and upsample_kernel_sizes need one entry per stage, got "
            f"{cfg.upsample_rates} and {cfg.upsample_kernel_sizes}")
    if not cfg.upsample_rates or min(cfg.upsample_rates + cfg.upsample_kernel_sizes) < 1:
        raise ValueError(f"BigVGAN upsample rates and kernels must be >= 1: {cfg}")
    if cfg.upsample_initial_channel >> len(cfg.upsample_rates) < 1:
        raise ValueError(
            f"BigVGAN upsample_initial_channel={cfg.upsample_initial_channel} cannot be halved "
            f"{len(cfg.upsample_rates)} times")
    if cfg.num_mels < 1:
        raise ValueError(f"BigVGAN in_channels must be >= 1, got {cfg.num_mels}")
    if cfg.resblock not in ("1", "2"):
        raise ValueError(f"BigVGAN resblock must be '1' or '2', got {cfg.resblock!r}")
    if cfg.activation not in ("snake", "snakebeta"):
        raise ValueError(
            f"BigVGAN activation must be 'snake' or 'snakebeta', got {cfg.activation!r}")
    if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
        raise ValueError(
            "BigVGAN resblock_kernel_sizes and resblock_dilation_sizes need one entry per "
            f"block, got {cfg.resblock_kernel_sizes} and {cfg.resblock_dilation_sizes}")
    if not cfg.resblock_kernel_sizes or any(k % 2 == 0 for k in cfg.resblock_kernel_sizes):
        raise ValueError(
            "BigVGAN resblock_kernel_sizes must be odd (length-preserving): "
            f"{cfg.resblock_kernel_sizes}")
    if any(not dilations for dilations in cfg.resblock_dilation_sizes):
        raise ValueError(
            f"BigVGAN resblock_dilation_sizes need at least one dilation per block: "
            f"{cfg.resblock_dilation_sizes}")
