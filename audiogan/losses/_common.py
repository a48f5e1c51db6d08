"""Helpers shared by the loss modules."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor


def _sum(terms: Iterable[Tensor]) -> Tensor:
    """Sum a non-empty iterable of scalar tensors (keeps device and dtype)."""
    terms = list(terms)
    if not terms:
        raise ValueError("no sub-discriminator outputs to compute a loss over")
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _as_batch_time(wave: Tensor) -> Tensor:
    """(B, 1, T) or (B, T) -> (B, T)."""
    if wave.dim() == 3:
        if wave.size(1) != 1:
            raise ValueError(f"expected a mono waveform (B, 1, T), got {tuple(wave.shape)}")
        wave = wave.squeeze(1)
    if wave.dim() != 2:
        raise ValueError(f"expected a waveform (B, 1, T) or (B, T), got {tuple(wave.shape)}")
    return wave
