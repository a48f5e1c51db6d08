"""Randomness keyed by integers, so results do not depend on ranks, batch splits or resumes.

The trainer keys every per-sample random draw (latent vectors, gradient-penalty mixing, phase
shuffle) by ``(seed, step, salt, dataset index)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from audiogan.models.base import Generator


def sample_key(*parts: int) -> int:
    """A stable 63-bit seed from integers (rank- and resume-independent)."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9
        value &= 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value & 0x7FFFFFFFFFFFFFFF


def keyed_latents(model: Generator, keys: Sequence[int], device: torch.device | str) -> Tensor:
    """(len(keys), latent_dim) latents from ``model``'s prior, row i seeded with keys[i]."""
    if not keys:
        return torch.zeros(0, model.latent_dim, device=device)
    rows = [model.sample_latent(1, generator=torch.Generator().manual_seed(int(k)))
            for k in keys]
    return torch.cat(rows).to(device)


def keyed_uniform(keys: list[int], device: torch.device) -> Tensor:
    """(len(keys),) uniform [0, 1), element i from a generator seeded with keys[i]."""
    return torch.stack(
        [torch.rand(1, generator=torch.Generator().manual_seed(k))[0] for k in keys]
    ).to(device)


NOISE_BLOCK = 4096
"""Samples per independently seeded block of :func:`keyed_noise`."""


def keyed_noise(
    seed: int, start: int, length: int, channels: int = 1,
    device: torch.device | str | None = None,
) -> Tensor:
    """Standard normal noise (channels, length) for samples ``[start, start + length)`` of the
    endless noise signal that ``seed`` names.

    Sample ``n`` of channel ``c`` depends only on ``(seed, c, n)``: the signal is cut into
    blocks of :data:`NOISE_BLOCK` samples, block ``b`` of channel ``c`` drawn from a CPU
    generator seeded with ``sample_key(seed, c, b)``. So any window of it, taken in one call
    or in pieces (streaming, chunked synthesis), on any device, has the same values; and the
    noise of a clip does not depend on the batch it is synthesised in.

    Args:
        seed: any integer (negative and > 64-bit values are reduced modulo 2**64).
        start: absolute index of the first sample (>= 0).
        length: number of samples (>= 0).
        channels: noise channels.
        device: where to put the result (drawn on the CPU, float32).

    Returns:
        (channels, length) float32.
    """
    if start < 0 or length < 0:
        raise ValueError(f"keyed_noise needs start >= 0 and length >= 0, got {start}, {length}")
    if length == 0:
        return torch.zeros(channels, 0, device=device)
    first, last = start // NOISE_BLOCK, (start + length - 1) // NOISE_BLOCK
    rows = []
    for c in range(channels):
        blocks = [torch.randn(NOISE_BLOCK, generator=torch.Generator().manual_seed(
            sample_key(seed, c, b))) for b in range(first, last + 1)]
        joined = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
        offset = start - first * NOISE_BLOCK
        rows.append(joined[offset:offset + length])
    out = torch.stack(rows)
    return out if device is None else out.to(device)
