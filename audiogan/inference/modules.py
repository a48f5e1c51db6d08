"""The deployable modules: what ``voc.module`` / ``gen.module`` are and what ONNX / TorchScript
exports hold.

- :class:`VocoderModule`: raw profile features -> waveform (optional z-normalisation, then the
  generator);
- :class:`NoiseVocoderModule`: the same for noise-driven generators
  (``Generator.noise_channels > 0``, Parallel WaveGAN), which also take the noise;
- :class:`WaveGeneratorModule`: latent vectors [+ class labels] -> clips.

:func:`vocoder_module` picks the vocoder module a generator needs. All are plain differentiable
``nn.Module`` objects (re-exported by :mod:`audiogan.inference.model_dir`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from audiogan.models import Generator

__all__ = ["NoiseVocoderModule", "VocoderModule", "WaveGeneratorModule", "vocoder_module"]


class _KeepStatsFloat32(nn.Module):
    """Keeps ``mean`` / ``scale`` float32 under ``.half()`` / ``.to(dtype)``; tracks the
    parameters' dtype in ``input_dtype`` (what inputs are cast to)."""

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Any:
        kept = {k: v for k in ("mean", "scale") if (v := self._buffers.get(k)) is not None}
        super()._apply(fn, recurse)
        for name, original in kept.items():
            moved = self._buffers[name]
            if moved is not None and moved.dtype != original.dtype:
                self._buffers[name] = original.to(moved.device)
        first = next(self.parameters(), None)
        self.input_dtype = first.dtype if first is not None else torch.float32
        return self


class VocoderModule(_KeepStatsFloat32):
    """Raw profile features -> waveform: optional z-normalisation, then the generator.

    Differentiable (use it for joint fine-tuning); :class:`audiogan.Vocoder` calls it under
    ``torch.inference_mode``. The statistics stay float32 whatever the module's dtype; the
    normalised mel is cast to the parameters' dtype before the generator.

    Args:
        generator: a mel generator (weight norm folded or not).
        mean: optional ``(n_mels,)`` per-channel mean of the raw log-mel features.
        scale: optional ``(n_mels,)`` per-channel scale; given together with ``mean``.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        mean: Tensor  # buffer (n_mels,), float32 (zeros without statistics)
        scale: Tensor  # buffer (n_mels,), float32 (ones without statistics)

    def __init__(
        self, generator: Generator, mean: Tensor | None = None, scale: Tensor | None = None
    ) -> None:
        super().__init__()
        if (mean is None) != (scale is None):
            raise ValueError("mean and scale must be given together")
        n_mels = int(generator.in_channels)
        self.generator = generator
        self.normalize = mean is not None
        stats = (mean, scale) if mean is not None and scale is not None else (
            torch.zeros(n_mels), torch.ones(n_mels))
        self.register_buffer("mean", stats[0].detach().float().clone(), persistent=False)
        self.register_buffer("scale", stats[1].detach().float().clone(), persistent=False)
        first = next(generator.parameters(), None)
        self.input_dtype = first.dtype if first is not None else torch.float32

    def normalized(self, mel: Tensor) -> Tensor:
        """``mel`` z-normalised (when the model has statistics), in the parameters' dtype."""
        if self.normalize:
            mel = (mel.float() - self.mean[:, None]) / self.scale[:, None]
        return mel.to(self.input_dtype)

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise.

        Args:
            mel: (B, n_mels, frames) raw log-mel features of the model's profile.

        Returns:
            wave: (B, 1, frames * hop_length) in the parameters' dtype.
        """
        return self.generator(self.normalized(mel))


class NoiseVocoderModule(VocoderModule):
    """A :class:`VocoderModule` for a noise-driven generator (``noise_channels > 0``): it also
    takes the noise, ``forward(mel, noise)``; exports have the inputs ``mel`` and ``noise``.

    :class:`audiogan.Vocoder` draws the noise with
    :func:`audiogan.models.randomness.keyed_noise` (see :mod:`audiogan.inference.synthesis`);
    called directly without noise, the generator draws its own default (seed 0).
    """

    def forward(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        """Synthesise.

        Args:
            mel: (B, n_mels, frames) raw log-mel features of the model's profile.
            noise: (B, noise_channels, frames * hop_length) standard normal noise, or None
                (the generator's default noise).

        Returns:
            wave: (B, 1, frames * hop_length) in the parameters' dtype.
        """
        if noise is not None:
            noise = noise.to(self.input_dtype)
        return self.generator(self.normalized(mel), noise)


def vocoder_module(
    generator: Generator, mean: Tensor | None = None, scale: Tensor | None = None
) -> VocoderModule:
    """The deployable module of a mel ``generator``: :class:`NoiseVocoderModule` when it takes
    noise, else :class:`VocoderModule`."""
    cls = NoiseVocoderModule if int(generator.noise_channels) > 0 else VocoderModule
    return cls(generator, mean, scale)


class WaveGeneratorModule(_KeepStatsFloat32):
    """Latent vectors [+ class labels] -> waveform clips (an unconditional generator).

    Args:
        generator: a latent generator (``input_kind == "latent"``).
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator
        first = next(generator.parameters(), None)
        self.input_dtype = first.dtype if first is not None else torch.float32

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Generate.

        Args:
            z: (B, latent_dim) latent vectors.
            labels: (B,) int64 class indices for class-conditional models, else None.

        Returns:
            wave: (B, 1, num_samples) in the parameters' dtype.
        """
        return self.generator(z.to(self.input_dtype), labels)
