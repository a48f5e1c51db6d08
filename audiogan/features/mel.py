"""Log-mel spectrograms: the one audio -> features path, with named interoperability profiles.

A vocoder only works on the features it was trained on, so each convention that TTS models emit
is a named profile (:data:`PROFILES`). A profile fixes the *conventions* (padding, magnitude, mel
basis, log) and carries *canonical defaults* for the sizes; explicit arguments override the sizes,
never the conventions.

Profiles (canonical defaults: sr, n_fft, hop, win, n_mels, f_min, f_max):

``hifigan`` (default; jik876/hifi-gan, BigVGAN)
    Reflect-pad ``(n_fft - hop) // 2`` samples on the left and ``n_fft - hop - left`` on the
    right, STFT without centring, periodic Hann(win) window centred in n_fft;
    magnitude ``sqrt(re^2 + im^2 + 1e-9)``; librosa slaney mel basis (``norm='slaney'``);
    ``ln(clamp(x, 1e-5))``. Defaults 22050, 1024, 256, 1024, 80, 0, 8000.
    Frames: ``T // hop``. (When ``n_fft - hop`` is even, as for every canonical setting, the
    padding is the reference's symmetric one; when it is odd the reference pads one sample less
    on the right and so yields ``(T - 1) // hop`` frames; here the first frames are identical
    and the count stays ``T // hop``.)
``tacotron2`` (NVIDIA Tacotron 2 / WaveGlow, FastSpeech 2, Glow-TTS)
    Centred STFT: reflect-pad ``n_fft // 2`` each side, periodic Hann(win);
    magnitude ``sqrt(re^2 + im^2)``; librosa slaney basis; ``ln(clamp(x, 1e-5))``.
    Defaults 22050, 1024, 256, 1024, 80, 0, 8000.
``pwg`` (kan-bayashi/ParallelWaveGAN)
    Centred STFT (reflect), periodic Hann(win); magnitude ``|X|``; librosa slaney basis;
    ``log10(max(x, 1e-10))``; then, when statistics are attached, ``(x - mean) / scale``
    per mel channel. Defaults 22050, 1024, 256, 1024, 80, 80, 7600.
``melgan`` (descriptinc/melgan-neurips)
    Padding and STFT as ``hifigan``; magnitude ``|X|`` (no 1e-9); librosa slaney basis;
    ``log10(clamp(x, 1e-5))``. Defaults 22050, 1024, 256, 1024, 80, 0, sr/2.
``vocos`` (gemelo-ai/vocos)
    Centred STFT (reflect), periodic Hann(win); magnitude ``|X|``; HTK mel scale with
    ``norm=None``; ``ln(clamp(x, 1e-7))``. Defaults 24000, 1024, 256, 1024, 100, 0, sr/2.

Frame-count rule: ``frames = (T + pad_left + pad_right - n_fft) // hop + 1``, i.e.

- ``hifigan``, ``melgan``: ``T // hop``;
- ``tacotron2``, ``pwg``, ``vocos`` (centred): ``T // hop + 1`` for even ``n_fft``
  (``(T - 1) // hop + 1`` for odd ``n_fft``, as torch/librosa centring pads ``n_fft // 2``).

:meth:`MelSpectrogram.frames_for` (and :meth:`FeatureSpec.frames_for`) is the authoritative
rule. Input must hold at least one sample; a non-centred clip shorter than ``hop`` has zero
frames and gives an empty ``(..., n_mels, 0)`` result.

Short clips: reflect padding needs ``pad < T``. For shorter clips the padding continues the
reflection periodically, exactly as ``numpy.pad(mode="reflect")`` (and hence ``librosa.stft``)
does; a single-sample clip is repeated. So a clip shorter than ``n_fft`` still yields the
documented frame count and matches the numpy/librosa reference.

Precision: features are computed in float32 with autocast disabled (torch.stft has no bf16
kernel), whatever the surrounding autocast context or the input's dtype; float64 input is
computed and returned in float64 (used by the reference tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.features.spec import (
    DEFAULT,
    PROFILES,
    FeatureError,
    FeatureSpec,
    SizeOverrides,
    SpecSettings,
    resolve_spec,
)
from audiogan.features.stats import compute_stats

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11 on

__all__ = [
    "DEFAULT",
    "PROFILES",
    "FeatureError",
    "FeatureSpec",
    "MelSpectrogram",
    "compute_stats",
    "resolve_spec",
]


def _reflect_index(length: int, left: int, right: int, device: torch.device) -> Tensor:
    """Indices that reflect-pad a length-``length`` signal by any amount, like ``numpy.pad``.

    ``numpy.pad(mode="reflect")`` continues the reflection periodically (period
    ``2 * (length - 1)``) when the pad exceeds the signal; a single sample is repeated.
    """
    positions = torch.arange(-left, length + right, device=device)
    if length == 1:
        return torch.zeros_like(positions)
    period = 2 * (length - 1)
    folded = torch.remainder(positions, period)
    return torch.where(folded >= length, period - folded, folded)


class MelSpectrogram(SpecSettings, nn.Module):
    """Log-mel spectrogram following one of the named profiles (see the module docstring).

    The mel basis and the window are non-persistent float64 buffers (they move with ``.to()``
    but are not saved); optional z-normalisation statistics ``mean``/``scale`` are persistent
    float32 buffers, so they travel with a saved model. A state dict that holds statistics can
    be loaded into a module built without them (they are adopted). Dtype casts of the module
    (``.half()``, ``.double()``, ...) move nothing but the device: the computing dtype follows
    the input (float32, or float64 for float64 input), never the module's. The settings
    (``profile``, ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``,
    :meth:`frames_for`) are read from :attr:`spec` (see :class:`SpecSettings`).

    On CUDA, keep TF32 matmuls off (PyTorch's default) for exact features: with
    ``torch.backends.cuda.matmul.allow_tf32 = True`` the mel projection runs in TF32 and the
    log-mel values move by about 1e-3.

    Example:
        >>> mel = MelSpectrogram()                       # hifigan, 22050 Hz, 80 mels
        >>> mel(torch.randn(2, 8192)).shape
        torch.Size([2, 80, 32])
        >>> MelSpectrogram("vocos", f_max=None).spec.f_max_hz
        12000.0
        >>> MelSpectrogram(resolve_spec("pwg", n_mels=64)).n_mels   # a resolved FeatureSpec
        64

    Args:
        profile: one of :data:`PROFILES`, or a resolved :class:`FeatureSpec` (e.g.
            ``config.feature_spec()``), whose values then stand in for the canonical ones.
        mean: optional per-channel mean, shape ``(n_mels,)``.
        scale: optional per-channel scale (standard deviation), shape ``(n_mels,)``;
            ``mean`` and ``scale`` are given together or not at all.
        **overrides: ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``,
            ``f_min``, ``f_max`` (:class:`~audiogan.features.spec.SizeOverrides`): overrides of
            the profile's values (:data:`DEFAULT` keeps one; ``f_max=None`` is sr/2).
    """

    mean: Tensor | None
    scale: Tensor | None
    mel_basis: Tensor
    window: Tensor

    def __init__(
        self,
        profile: str | FeatureSpec = "hifigan",
        *,
        mean: Tensor | None = None,
        scale: Tensor | None = None,
        **overrides: Unpack[SizeOverrides],
    ) -> None:
        super().__init__()
        spec = resolve_spec(profile, **overrides)
        self.spec = spec
        basis = librosa.filters.mel(
            sr=spec.sample_rate,
            n_fft=spec.n_fft,
            n_mels=spec.n_mels,
            fmin=spec.f_min,
            fmax=spec.f_max_hz,
            htk=spec.mel_htk,
            norm=spec.mel_norm,
            dtype=np.float64,
        )
        # Stored in float64 so that float64 input gets float64-exact features; forward casts
        # them to the computing dtype (a few kB, negligible next to the STFT).
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)
        self.register_buffer(
            "window",
            torch.hann_window(spec.win_length, periodic=True, dtype=torch.float64),
            persistent=False,
        )
        self.register_buffer("mean", None)
        self.register_buffer("scale", None)
        if mean is not None or scale is not None:
            self.set_stats(mean, scale)

    @classmethod
    def from_spec(
        cls, spec: FeatureSpec, mean: Tensor | None = None, scale: Tensor | None = None
    ) -> MelSpectrogram:
        """Build the module from a resolved :class:`FeatureSpec` (e.g. one read from a config).

        Args:
            spec: the settings.
            mean: optional ``(n_mels,)`` statistics, see :class:`MelSpectrogram`.
            scale: optional ``(n_mels,)`` statistics.
        """
        return cls(spec, mean=mean, scale=scale)

    # ------------------------------------------------------------------ statistics
    @property
    def has_stats(self) -> bool:
        """True when z-normalisation statistics are attached."""
        return self.mean is not None

    def set_stats(self, mean: Tensor | None, scale: Tensor | None) -> None:
        """Attach (or, with two ``None``, remove) z-normalisation statistics.

        The output becomes ``(logmel - mean[:, None]) / scale[:, None]``.

        Args:
            mean: ``(n_mels,)`` per-channel mean of the log-mel features.
            scale: ``(n_mels,)`` per-channel standard deviation, finite and positive.

        Raises:
            ValueError: only one of them given, wrong shape, non-finite values, scale <= 0.
        """
        if mean is None and scale is None:
            self.mean = None
            self.scale = None
            return
        if mean is None or scale is None:
            raise FeatureError("mean and scale must be given together")
        device = self.mel_basis.device
        checked = []
        for name, value in (("mean", mean), ("scale", scale)):
            value = torch.as_tensor(value).detach().to(device=device, dtype=torch.float32)
            if value.shape != (self.n_mels,):
                raise FeatureError(
                    f"{name} must have shape ({self.n_mels},) (n_mels), got {tuple(value.shape)}"
                )
            if not torch.isfinite(value).all():
                raise FeatureError(f"{name} has non-finite values")
            checked.append(value.clone())
        if (checked[1] <= 0).any():
            raise FeatureError("scale must be positive in every mel channel")
        self.mean, self.scale = checked

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Tensor],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Adopt statistics from a state dict into a module built without them, so that
        # MelSpectrogram("pwg").load_state_dict(saved) restores the normalisation.
        for name in ("mean", "scale"):
            key = prefix + name
            if self._buffers.get(name) is None and key in state_dict:
                self._buffers[name] = torch.empty(
                    self.n_mels, device=self.mel_basis.device, dtype=torch.float32
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> MelSpectrogram:
        # Buffers follow device moves but keep their dtype: a parent model's .half() or
        # .bfloat16() must not round the mel basis, window or statistics (features are always
        # computed in float32, or float64 for float64 input).
        originals = {name: buf for name, buf in self._buffers.items() if buf is not None}
        super()._apply(fn, recurse)
        for name, original in originals.items():
            moved = self._buffers[name]
            if moved is None or moved.dtype == original.dtype:
                continue
            if original.is_meta or moved.is_meta:  # e.g. to_empty(): no values to keep
                self._buffers[name] = moved.to(original.dtype)
            else:
                self._buffers[name] = original.to(moved.device)
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, wave: Tensor) -> Tensor:
        """Compute log-mel features.

        Args:
            wave: ``(B, T)``, ``(B, 1, T)`` or ``(T,)`` floating-point waveform, ``T >= 1``.

        Returns:
            ``(B, n_mels, frames)`` (``(n_mels, frames)`` for 1-D input) with
            ``frames = frames_for(T)``; float32 (float64 for float64 input), also under
            autocast.

        Raises:
            ValueError: another shape (e.g. several channels) or an empty waveform.
            TypeError: a non-floating-point waveform.
        """
        squeeze = wave.dim() == 1
        if squeeze:
            wave = wave.unsqueeze(0)
        elif wave.dim() == 3:
            if wave.shape[1] != 1:
                raise FeatureError(
                    f"expected mono audio (B, 1, T); got {wave.shape[1]} channels, "
                    f"shape {tuple(wave.shape)}"
                )
            wave = wave.squeeze(1)
        elif wave.dim() != 2:
            raise FeatureError(f"expected (B, T), (B, 1, T) or (T,) audio, got {tuple(wave.shape)}")
        if not wave.is_floating_point():
            raise TypeError(f"expected a floating-point waveform, got {wave.dtype}")
        if wave.shape[-1] < 1:
            raise FeatureError("cannot compute features of an empty waveform (0 samples)")

        dtype = torch.float64 if wave.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=wave.device.type, enabled=False):
            mel = self._logmel(wave.to(dtype))
        return mel.squeeze(0) if squeeze else mel

    def _logmel(self, wave: Tensor) -> Tensor:
        """(B, T) float32/64 -> (B, n_mels, frames), same dtype."""
        spec = self.spec
        batch, length = wave.shape
        frames = spec.frames_for(length)
        if frames == 0:
            return wave.new_zeros(batch, spec.n_mels, 0)
        padded = self._pad(wave)
        stft = torch.stft(
            padded,
            n_fft=spec.n_fft,
            hop_length=spec.hop_length,
            win_length=spec.win_length,
            window=self.window.to(wave.dtype),
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )  # (B, n_freqs, frames)
        if spec.magnitude_eps is None:
            magnitude = stft.abs()
        else:
            magnitude = torch.sqrt(stft.real.square() + stft.imag.square() + spec.magnitude_eps)
        mel = torch.matmul(self.mel_basis.to(wave.dtype), magnitude)
        mel = mel.clamp(min=spec.log_floor)
        mel = torch.log(mel) if spec.log_base == "e" else torch.log10(mel)
        if self.mean is not None and self.scale is not None:
            mel = (mel - self.mean.to(wave.dtype)[:, None]) / self.scale.to(wave.dtype)[:, None]
        return mel

    def _pad(self, wave: Tensor) -> Tensor:
        """Reflect-pad (B, T) by :attr:`FeatureSpec.padding`, numpy-style for short clips."""
        left, right = self.spec.padding
        length = wave.shape[-1]
        if max(left, right) < length:
            return F.pad(wave.unsqueeze(1), (left, right), mode="reflect").squeeze(1)
        index = _reflect_index(length, left, right, wave.device)
        return wave.index_select(-1, index)

    def extra_repr(self) -> str:
        spec = self.spec
        f_max = "sr/2" if spec.f_max is None else f"{spec.f_max:g}"
        return (
            f"profile={spec.profile!r}, sample_rate={spec.sample_rate}, n_fft={spec.n_fft}, "
            f"hop_length={spec.hop_length}, win_length={spec.win_length}, "
            f"n_mels={spec.n_mels}, f_min={spec.f_min:g}, f_max={f_max}, "
            f"has_stats={self.has_stats}"
        )
