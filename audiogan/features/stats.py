"""Per-channel statistics of log-mel features (for z-normalised profiles such as ``pwg``).

Re-exported by :mod:`audiogan.features.mel`, its public home.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["compute_stats"]


def compute_stats(mels: Iterable[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of log-mel features, for z-normalisation.

    Streams over the inputs (Chan's parallel update in float64), so a whole corpus never has
    to be in memory. Matches ``sklearn.preprocessing.StandardScaler`` as used by
    ParallelWaveGAN: population standard deviation (ddof=0), and a scale of 1 for a channel
    with zero variance.

    Args:
        mels: iterable of ``(n_mels, frames)`` or ``(B, n_mels, frames)`` tensors
            (un-normalised features, all with the same ``n_mels``).

    Returns:
        ``(mean, scale)``, each ``(n_mels,)`` float32 on the CPU, ready for
        ``MelSpectrogram(..., mean=mean, scale=scale)``.

    Raises:
        ValueError: no frames at all, mismatched ``n_mels``, or a tensor of another rank.
    """
    count = 0
    mean: Tensor | None = None
    m2: Tensor | None = None
    for mel in mels:
        if mel.dim() == 3:
            mel = mel.transpose(0, 1).reshape(mel.shape[1], -1)
        elif mel.dim() != 2:
            raise ValueError(
                f"expected (n_mels, frames) or (B, n_mels, frames), got {tuple(mel.shape)}"
            )
        values = mel.detach().to(device="cpu", dtype=torch.float64)
        n = values.shape[1]
        if n == 0:
            continue
        if mean is not None and values.shape[0] != mean.shape[0]:
            raise ValueError(f"n_mels changed from {mean.shape[0]} to {values.shape[0]}")
        chunk_mean = values.mean(dim=1)
        chunk_m2 = (values - chunk_mean[:, None]).square().sum(dim=1)
        if mean is None or m2 is None:
            count, mean, m2 = n, chunk_mean, chunk_m2
            continue
        total = count + n
        delta = chunk_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + chunk_m2 + delta.square() * (count * n / total)
        count = total
    if mean is None or m2 is None:
        raise ValueError("compute_stats needs at least one frame")
    scale = torch.sqrt(m2 / count)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return mean.to(torch.float32), scale.to(torch.float32)
