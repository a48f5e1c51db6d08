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
