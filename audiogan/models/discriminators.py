"""Discriminators: multi-period, multi-scale, multi-resolution STFT and their combination (with
BigVGAN-v2's CQT discriminator of :mod:`audiogan.models.cqt_discriminator`).

Every discriminator subclasses :class:`~audiogan.models.base.Discriminator` and maps ``wave:
(B, 1, T)`` to a :class:`~audiogan.models.base.DiscriminatorOutput`: one logit tensor and one
feature list per sub-discriminator. Each sub-discriminator sees one signal at a time (real and
generated batches in separate calls). ``names`` holds one label per sub-discriminator for logs.

Architectures follow the papers (HiFi-GAN, MelGAN, UnivNet, WaveGAN); channel widths are
arguments so tests can build tiny versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from audiogan.models import DISCRIMINATORS
from audiogan.models.base import Discriminator, DiscriminatorOutput, score_each
from audiogan.models.base import as_batch_channel_time as _as_batch_channel_time
from audiogan.models.cqt_discriminator import MultiScaleSubbandCQTDiscriminator
from audiogan.models.layers import weight_norm


def _merge(outputs: Sequence[DiscriminatorOutput]) -> DiscriminatorOutput:
    """Concatenate several outputs' logits and features, in order."""
    logits: list[Tensor] = []
    features: list[list[Tensor]] = []
    for output in outputs:
        logits.extend(output.logits)
        features.extend(output.features)
    return DiscriminatorOutput(logits, features)


class _ConvStack(nn.Module):
    """Sub-discriminator body: ``convs`` each followed by LeakyReLU, then a 1-channel ``post``.

    Subclasses build ``convs``, ``post`` and ``negative_slope``; every post-activation map and
    the final score map are the features.
    """

    convs: nn.ModuleList
    post: nn.Module
    negative_slope: float

    def _score(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features: list[Tensor] = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.negative_slope)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1), features


class _SameInputDiscriminator(Discriminator):
    """A discriminator whose sub-discriminators all see the same waveform."""

    discriminators: nn.ModuleList
    names: list[str]

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score a batch.

        Args:
            wave: (B, 1, T) waveform.
            labels: ignored (unconditional).

        Returns:
            ``DiscriminatorOutput`` with one logit (B, N_k) and feature list per
            sub-discriminator.
        """
        return score_each(self.discriminators, _as_batch_channel_time(wave))


class _PooledScalesDiscriminator(Discriminator):
    """A discriminator whose sub-discriminator ``i`` sees the waveform passed ``i`` times
    through ``pool``.

    Args:
        scales: number of sub-discriminators (>= 1).
        build: makes the sub-discriminator of scale ``index``.
        pool: the downsampling between scales.
        name: prefix of the log names (``<name>_s<index>``).
    """

    def __init__(self, scales: int, build: Callable[[int], nn.Module], pool: nn.Module,
                 name: str) -> None:
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales must be >= 1, got {scales}")
        self.discriminators = nn.ModuleList(build(index) for index in range(scales))
        self.pool = pool
        self.names = [f"{name}_s{index}" for index in range(scales)]

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score a batch.

        Args:
            wave: (B, 1, T) or (B, T) waveform.
            labels: ignored (unconditional).

        Returns:
            ``DiscriminatorOutput`` with one logit (B, N_s) and feature list per scale.
        """
        x = _as_batch_channel_time(wave)
        logits, features = [], []
        for index, discriminator in enumerate(self.discriminators):
            if index > 0:
                x = self.pool(x)
            logit, feature = discriminator(x)
            logits.append(logit)
            features.append(feature)
        return DiscriminatorOutput(logits, features)


# --------------------------------------------------------------------------- multi-period


class PeriodDiscriminator(_ConvStack):
    """One HiFi-GAN period sub-discriminator: 2-D convs over the signal folded by ``period``.

    Args:
        period: fold the signal into (T / period, period) columns.
        channels: output channels of the strided convolutions, then of the last stride-1 one.
        kernel_size: kernel height (along time); width is 1.
        stride: stride along time of all but the last convolution.
        negative_slope: LeakyReLU slope.
        post_kernel_size: kernel height of the output conv (padded 1 either side): 3 as in
            HiFi-GAN; 2 as in ParallelWaveGAN's HiFi-GAN (one more score row), for imports.
    """

    def __init__(self, period: int, *, channels: Sequence[int], kernel_size: int, stride: int,
                 negative_slope: float, post_kernel_size: int) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.negative_slope = negative_slope
        padding = (kernel_size // 2, 0)
        self.convs = nn.ModuleList()
        in_channels = 1
        for index, out_channels in enumerate(channels):
            layer_stride = 1 if index == len(channels) - 1 else stride
            conv = nn.Conv2d(
                in_channels, out_channels, (kernel_size, 1), (layer_stride, 1), padding=padding
            )
            self.convs.append(weight_norm(conv))
            in_channels = out_channels
        self.post = weight_norm(nn.Conv2d(in_channels, 1, (post_kernel_size, 1), padding=(1, 0)))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Score one signal.

        Args:
            wave: (B, 1, T); T need not be a multiple of the period (reflect-padded).

        Returns:
            logits (B, frames * period) and the feature maps (B, C, frames, period) per layer
            (post-activation, then the final score map).
        """
        batch, _, length = wave.shape
        remainder = length % self.period
        if remainder:
            wave = F.pad(wave, (0, self.period - remainder), mode="reflect")
        return self._score(wave.view(batch, 1, -1, self.period))


@DISCRIMINATORS.register("mpd")
class MultiPeriodDiscriminator(_SameInputDiscriminator):
    """HiFi-GAN multi-period discriminator: one :class:`PeriodDiscriminator` per period.

    Args:
        periods: one sub-discriminator per period.
        channels, kernel_size, stride, negative_slope, post_kernel_size: passed to each
            :class:`PeriodDiscriminator`.
    """

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        *,
        channels: Sequence[int] = (32, 128, 512, 1024, 1024),
        kernel_size: int = 5,
        stride: int = 3,
        negative_slope: float = 0.1,
        post_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(
                int(period),
                channels=channels,
                kernel_size=kernel_size,
                stride=stride,
                negative_slope=negative_slope,
                post_kernel_size=post_kernel_size,
            )
            for period in periods
        )
        self.names = [f"mpd_p{int(period)}" for period in periods]


# --------------------------------------------------------------------------- multi-scale


class ScaleDiscriminator(_ConvStack):
    """One MelGAN / HiFi-GAN scale sub-discriminator: grouped, strided 1-D convolutions.

    Args:
        channels: output channels per convolution.
        kernel_sizes: kernel per convolution.
        strides: stride per convolution.
        groups: groups per convolution (each must divide its in and out channels).
        use_spectral_norm: spectral instead of weight normalisation.
        negative_slope: LeakyReLU slope.
    """

    def __init__(self, *, channels: Sequence[int], kernel_sizes: Sequence[int],
                 strides: Sequence[int], groups: Sequence[int], use_spectral_norm: bool,
                 negative_slope: float) -> None:
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(strides) == len(groups):
            raise ValueError("channels, kernel_sizes, strides and groups must have equal lengths")
        norm = spectral_norm if use_spectral_norm else weight_norm
        self.negative_slope = negative_slope
        self.convs = nn.ModuleList()
        in_channels = 1
        for out_channels, kernel, stride, group in zip(channels, kernel_sizes, strides, groups):
            conv = nn.Conv1d(
                in_channels, out_channels, kernel, stride, padding=kernel // 2, groups=group
            )
            self.convs.append(norm(conv))
            in_channels = out_channels
        self.post = norm(nn.Conv1d(in_channels, 1, 3, padding=1))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Score one signal.

        Args:
            wave: (B, 1, T).

        Returns:
            logits (B, frames) and the feature maps (B, C, frames_l) per layer.
        """
        return self._score(wave)


@DISCRIMINATORS.register("msd")
class MultiScaleDiscriminator(_PooledScalesDiscriminator):
    """Multi-scale discriminator: scale ``s`` sees the signal average-pooled ``s`` times.

    Pooling is ``AvgPool1d(kernel_size=4, stride=2, padding=2)``. The first scale (raw audio)
    uses spectral norm, the others weight norm, as in HiFi-GAN.

    Args:
        scales: number of sub-discriminators.
        channels, kernel_sizes, strides, groups, negative_slope: passed to every
            :class:`ScaleDiscriminator`.
    """

    def __init__(
        self,
        scales: int = 3,
        *,
        channels: Sequence[int] = (128, 128, 256, 512, 1024, 1024, 1024),
        kernel_sizes: Sequence[int] = (15, 41, 41, 41, 41, 41, 5),
        strides: Sequence[int] = (1, 2, 2, 4, 4, 1, 1),
        groups: Sequence[int] = (1, 4, 16, 16, 16, 16, 1),
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__(
            scales,
            lambda index: ScaleDiscriminator(
                channels=channels, kernel_sizes=kernel_sizes, strides=strides, groups=groups,
                use_spectral_norm=index == 0, negative_slope=negative_slope),
            nn.AvgPool1d(kernel_size=4, stride=2, padding=2), "msd")


# --------------------------------------------------------------------------- multi-resolution


class ResolutionDiscriminator(_ConvStack):
    """One STFT-magnitude sub-discriminator (UnivNet style): 2-D convs over (frames, bins).

    The spectrogram is computed in float32 with autocast disabled (``torch.stft`` has no bf16):
    reflect padding of ``(n_fft - hop) // 2`` per side, ``center=False``, Hann window,
    magnitude ``sqrt(re^2 + im^2 + 1e-9)`` (finite gradients at zero). ``window="rect"`` gives
    BigVGAN's variant instead: no window (rectangular) and the plain magnitude
    ``||(re, im)||``. ``freq_first=True`` convolves over (bins, frames), as BigVGAN's MRD does,
    instead of (frames, bins). The input must be longer than ``(n_fft - hop) // 2`` samples.

    Args:
        n_fft: FFT size.
        hop_length: hop between frames.
        win_length: window length (<= n_fft).
        channels: width of every convolution.
        window, freq_first: ``"hann"`` / ``False`` (default) or BigVGAN's ``"rect"`` / ``True``.
        num_downsamples: convolutions with stride 2 along frequency.
        negative_slope: LeakyReLU slope.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        window: Tensor  # buffer (win_length,)

    def __init__(self, n_fft: int, hop_length: int, win_length: int, *, channels: int = 32,
                 num_downsamples: int = 3, negative_slope: float = 0.1,
                 window: str = "hann", freq_first: bool = False) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length {win_length} > n_fft {n_fft}")
        if window not in ("hann", "rect"):
            raise ValueError(f"window must be 'hann' or 'rect', got {window!r}")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.negative_slope, self.plain_magnitude = negative_slope, window == "rect"
        self.freq_first = freq_first
        shape = torch.hann_window(win_length) if window == "hann" else torch.ones(win_length)
        self.register_buffer("window", shape, persistent=False)
        layers = [nn.Conv2d(1, channels, (3, 9), padding=(1, 4))]
        layers += [
            nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))
            for _ in range(num_downsamples)
        ]
        layers.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
        self.convs = nn.ModuleList(weight_norm(layer) for layer in layers)
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def spectrogram(self, wave: Tensor) -> Tensor:
        """Magnitude spectrogram in float32.

        Args:
            wave: (B, 1, T).

        Returns:
            (B, 1, T // hop_length, n_fft // 2 + 1); transposed with ``freq_first``.
        """
        pad = (self.n_fft - self.hop_length) // 2
        if wave.size(-1) <= pad:
            raise ValueError(
                f"STFT discriminator (n_fft {self.n_fft}, hop {self.hop_length}) needs more than "
                f"{pad} samples, got {wave.size(-1)}"
            )
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = F.pad(wave.float(), (pad, pad), mode="reflect").squeeze(1)
            spec = torch.stft(
                x,
                self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.float(),
                center=False,
                return_complex=True,
            )
            spec = torch.view_as_real(spec)
            if self.plain_magnitude:
                magnitude = torch.linalg.vector_norm(spec, dim=-1)
            else:
                magnitude = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
        return (magnitude if self.freq_first else magnitude.transpose(1, 2)).unsqueeze(1)

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Score one signal.

        Args:
            wave: (B, 1, T).

        Returns:
            logits (B, frames * bins') and the feature maps (B, C, frames, bins_l) per layer.
        """
        return self._score(self.spectrogram(wave))


@DISCRIMINATORS.register("mrd")
class MultiResolutionDiscriminator(_SameInputDiscriminator):
    """Multi-resolution STFT discriminator: one :class:`ResolutionDiscriminator` per resolution.

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` per sub-discriminator.
        channels, num_downsamples, negative_slope, window, freq_first: for each sub-discriminator.
    """

    def __init__(
        self,
        resolutions: Sequence[Sequence[int]] = (
            (512, 128, 512),
            (1024, 256, 1024),
            (2048, 512, 2048),
        ),
        *,
        channels: int = 32,
        num_downsamples: int = 3,
        negative_slope: float = 0.1,
        window: str = "hann",
        freq_first: bool = False,
    ) -> None:
        super().__init__()
        parsed = [tuple(int(value) for value in resolution) for resolution in resolutions]
        for resolution in parsed:
            if len(resolution) != 3:
                raise ValueError(f"a resolution is (n_fft, hop, win_length), got {resolution}")
        self.discriminators = nn.ModuleList(
            ResolutionDiscriminator(
                n_fft,
                hop,
                win,
                channels=channels,
                num_downsamples=num_downsamples,
                negative_slope=negative_slope,
                window=window,
                freq_first=freq_first,
            )
            for n_fft, hop, win in parsed
        )
        self.names = [f"mrd_{n_fft}_{hop}_{win}" for n_fft, hop, win in parsed]


# --------------------------------------------------------------------------- combined


@DISCRIMINATORS.register("combined")
class CombinedDiscriminator(Discriminator):
    """The parts a vocoder recipe asks for, in the order MPD, MSD, MRD, CQTD.

    ``build_discriminator("combined", periods=[2, 3, 5, 7, 11], scales=3)`` is HiFi-GAN's;
    adding ``resolutions=[[512, 128, 512], ...]`` adds UnivNet's MRD. An empty / ``None`` / 0
    value skips a part. BigVGAN-v2's is ``periods=[2, 3, 5, 7, 11], scales=0, cqtd=True``
    (its ``use_cqtd_instead_of_mrd``).

    Args:
        periods: periods of the multi-period part.
        scales: number of scales of the multi-scale part.
        resolutions: ``(n_fft, hop, win)`` per sub-discriminator of the STFT part.
        mpd_params: extra keyword arguments for :class:`MultiPeriodDiscriminator`.
        msd_params: extra keyword arguments for :class:`MultiScaleDiscriminator`.
        mrd_params: extra keyword arguments for :class:`MultiResolutionDiscriminator`.
        cqtd: add the multi-scale sub-band CQT discriminator (needs ``sample_rate``).
        sample_rate: rate of the waveforms in Hz (``discriminator_from_config`` passes the
            config's); only the CQT part uses it.
        cqtd_params: extra keyword arguments for
            :class:`~audiogan.models.cqt_discriminator.MultiScaleSubbandCQTDiscriminator`.
    """

    def __init__(
        self,
        periods: Sequence[int] | None = (2, 3, 5, 7, 11),
        scales: int | None = 3,
        resolutions: Sequence[Sequence[int]] | None = None,
        *,
        mpd_params: Mapping[str, Any] | None = None,
        msd_params: Mapping[str, Any] | None = None,
        mrd_params: Mapping[str, Any] | None = None,
        cqtd: bool = False,
        sample_rate: int | None = None,
        cqtd_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        parts: list[_SameInputDiscriminator | MultiScaleDiscriminator
                    | MultiScaleSubbandCQTDiscriminator] = []
        if periods:
            parts.append(MultiPeriodDiscriminator(periods, **dict(mpd_params or {})))
        if scales:
            parts.append(MultiScaleDiscriminator(scales, **dict(msd_params or {})))
        if resolutions:
            parts.append(MultiResolutionDiscriminator(resolutions, **dict(mrd_params or {})))
        if cqtd_params and not cqtd:
            raise ValueError("combined discriminator: cqtd_params given but cqtd is false; set "
                             "cqtd: true to add the CQT discriminator")
        if cqtd:
            if sample_rate is None:
                raise ValueError("combined discriminator: cqtd needs sample_rate (the config's "
                                 "sample_rate, passed by discriminator_from_config)")
            parts.append(MultiScaleSubbandCQTDiscriminator(sample_rate, **dict(cqtd_params or {})))
        if not parts:
            raise ValueError(
                "combined discriminator: periods, scales and resolutions all empty, cqtd false")
        self.parts = nn.ModuleList(parts)
        self.names = [name for part in parts for name in part.names]

    def clip_groups(self) -> dict[str, list[nn.Parameter]]:
        """One group per part, named by its log names' prefix: mpd, msd, mrd, cqtd."""
        prefixes = dict.fromkeys(name.split("_")[0] for name in self.names)
        return {prefix: list(part.parameters()) for prefix, part in zip(prefixes, self.parts)}

    def forward(self, wave: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        """Score a batch.

        Args:
            wave: (B, 1, T) waveform.
            labels: passed on to every part (all ignore it).

        Returns:
            The parts' outputs concatenated: ``len(self.names)`` logits and feature lists.
        """
        wave = _as_batch_channel_time(wave)
        return _merge([part(wave, labels) for part in self.parts])
