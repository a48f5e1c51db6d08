"""Running a vocoder's generator: the noise that noise-driven generators take, and copy
synthesis (features of a clip, then the generator).

Noise-driven generators (``Generator.noise_channels > 0``: Parallel WaveGAN) are called
``generator(mel, noise)`` with noise ``(B, noise_channels, frames * hop)``. Whoever runs one draws
that noise here, from :func:`audiogan.models.randomness.keyed_noise`:

- synthesis (:class:`audiogan.Vocoder`, training validation, the demo): :func:`synthesis_noise`,
  keyed by a seed and the absolute index of each output sample, the same for every item of a
  batch; so a clip's audio depends neither on its batch nor on how it is chunked or streamed, and
  two calls with one seed are identical;
- training (:meth:`audiogan.inference.kinds.VocoderKind.generator_inputs`):
  :func:`training_noise`, one key per batch item (the trainer's per-sample keys, which do not
  depend on ranks, batch splits or resumes).

Other generators take no noise; these helpers then return None / call ``generator(mel)``, and the
seed has no effect.

Copy synthesis is written once, :func:`copy_synthesis`, and used by training validation, the demo,
evaluation and :meth:`Vocoder.resynthesize`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias

import torch
from torch import Tensor, nn

from audiogan.models.base import Generator
from audiogan.models.randomness import keyed_noise

__all__ = [
    "CopySynthesis",
    "GeneratorInputs",
    "copy_synthesis",
    "noise_channels",
    "synthesis_noise",
    "synthesize",
    "training_noise",
]

GeneratorInputs: TypeAlias = Tensor | tuple[Tensor, ...]
"""What a model kind gives a generator: one tensor, or several positional inputs."""


def noise_channels(generator: nn.Module) -> int:
    """The noise channels ``generator`` takes (0 for all but noise-driven generators)."""
    return int(getattr(generator, "noise_channels", 0) or 0)


def synthesis_noise(
    generator: nn.Module, batch: int, start: int, length: int, seed: int = 0,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """The noise for output samples ``[start, start + length)`` of a synthesis with ``seed``.

    Args:
        generator: the generator (its ``noise_channels``).
        batch: batch size; every item gets the same noise.
        start: absolute index of the first output sample (0 for a whole clip; a chunk's or
            stream piece's first sample otherwise).
        length: samples.
        seed: the synthesis seed.
        device: where to put it.

    Returns:
        ``(batch, noise_channels, length)`` float32 (a broadcast view), or None when the
        generator takes no noise.
    """
    channels = noise_channels(generator)
    if channels == 0:
        return None
    noise = keyed_noise(seed, start, length, channels, device=device)
    return noise.unsqueeze(0).expand(batch, channels, length)


def training_noise(
    generator: nn.Module, keys: Sequence[int], length: int, device: torch.device | str
) -> Tensor:
    """``(len(keys), noise_channels, length)`` float32 noise, item ``i`` the first ``length``
    samples of the noise signal that ``keys[i]`` names (the trainer's per-sample key)."""
    channels = noise_channels(generator)
    rows = [keyed_noise(int(key), 0, length, channels) for key in keys]
    if not rows:
        return torch.zeros(0, channels, length, device=device)
    return torch.stack(rows).to(device)


def synthesize(generator: Generator, mel: Tensor, seed: int = 0) -> Tensor:
    """``generator(mel)``, with the :func:`synthesis_noise` of ``seed`` for noise-driven ones.

    Args:
        generator: a mel generator.
        mel: ``(B, n_mels, frames)``, a whole clip (its first sample is sample 0).
        seed: the synthesis seed (ignored by generators without noise).

    Returns:
        ``(B, 1, frames * hop)``.
    """
    noise = synthesis_noise(generator, mel.shape[0], 0, mel.shape[-1] * int(generator.hop_length),
                            seed, mel.device)
    return generator(mel) if noise is None else generator(mel, noise)


class CopySynthesis(NamedTuple):
    """The result of :func:`copy_synthesis`.

    Attributes:
        wave: the clip the output lines up with: ``(..., T')`` (cut to whole hops, or as given).
        mel: its features, ``(..., n_mels, frames)`` as given to the generator.
        fake: the generator's output, cut as documented in :func:`copy_synthesis`.
    """

    wave: Tensor
    mel: Tensor
    fake: Tensor


def copy_synthesis(
    generator: Callable[[Tensor], Tensor],
    features: Callable[[Tensor], Tensor],
    wave: Tensor,
    *,
    hop_length: int,
    whole_hops: bool = True,
) -> CopySynthesis:
    """Resynthesise ``wave`` from its own features: ``generator(features(wave))``.

    Two trimming rules, ``T = wave.shape[-1]``, ``hop = hop_length``:

    - ``whole_hops=True`` (training validation, the demo): the clip is cut to
      ``T' = T // hop * hop`` samples and its features to ``T' // hop`` frames (centred
      profiles give one frame more, which is dropped), so ``fake`` is ``(..., 1, T')`` and lines
      up sample for sample with the returned ``wave`` ``(..., T')``.
    - ``whole_hops=False`` (``Vocoder.resynthesize``, evaluation): every frame of the whole
      clip's features is synthesised and the output is cut to at most ``T`` samples
      (``fake[..., :T]``); ``wave`` is returned as given.

    Args:
        generator: features ``(..., n_mels, frames)`` -> wave ``(..., frames * hop)`` (a raw
            generator gives ``(B, 1, frames * hop)``; a :class:`Vocoder` drops the channel).
        features: wave ``(..., T)`` -> ``(..., n_mels, frames)`` (a ``MelSpectrogram`` or
            ``Vocoder.features``).
        wave: ``(T,)``, ``(B, T)`` or ``(1, T)`` samples.
        hop_length: samples per feature frame.
        whole_hops: the rule above.

    Returns:
        :class:`CopySynthesis` ``(wave, mel, fake)``; ``fake`` in the generator's dtype.

    Raises:
        ValueError: ``whole_hops`` and a clip shorter than one hop (callers skip such clips).
    """
    if not whole_hops:
        mel = features(wave)
        return CopySynthesis(wave, mel, generator(mel)[..., : wave.shape[-1]])
    frames = wave.shape[-1] // hop_length
    wave = wave[..., : frames * hop_length]
    if frames == 0:
        raise ValueError(f"a clip of {wave.shape[-1]} samples is shorter than one hop "
                         f"({hop_length}): nothing to resynthesise")
    mel = features(wave)[..., :frames]
    return CopySynthesis(wave, mel, generator(mel))
