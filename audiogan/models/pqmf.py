"""Pseudo-quadrature mirror filter bank (PQMF) for multi-band generators.

A Kaiser-windowed low-pass prototype ``h`` (``taps + 1`` coefficients, cut-off
``cutoff_ratio * pi``) is cosine-modulated into ``subbands`` analysis filters

    h_k[n] = 2 h[n] cos((2k + 1) * pi / (2K) * (n - taps / 2) + (-1)^k * pi / 4)

and synthesis filters ``g_k`` with the phase term's sign flipped (Nguyen, 1994; the 62-tap,
0.142, beta 9 design used by multi-band MelGAN). Analysis filters then decimates by ``K``;
synthesis interpolates by ``K`` (zero insertion, gain ``K``) then filters and sums the bands.
Both convolutions are centred (``taps / 2`` samples of zero padding), so the filter bank has no
net delay: ``synthesis(analysis(x))`` is aligned with ``x``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import firwin
from torch import Tensor, nn


def pqmf_filters(
    subbands: int = 4,
    taps: int = 62,
    cutoff_ratio: float = 0.142,
    beta: float = 9.0,
    scaled: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine-modulated analysis and synthesis filters.

    Args:
        subbands: number of bands ``K``.
        taps: filter order (even); each filter has ``taps + 1`` coefficients.
        cutoff_ratio: prototype cut-off as a fraction of Nyquist (in (0, 1)).
        beta: Kaiser window shape parameter.

    Returns:
        ``(analysis, synthesis)``, each ``(subbands, taps + 1)`` float64.
    """
    if taps % 2:
        raise ValueError(f"PQMF taps must be even (a centred, zero-delay filter), got {taps}")
    if not 0.0 < cutoff_ratio < 1.0:
        raise ValueError(f"PQMF cutoff_ratio must lie in (0, 1), got {cutoff_ratio}")
    prototype = firwin(taps + 1, cutoff_ratio, window=("kaiser", beta), scale=scaled)
    n = np.arange(taps + 1) - taps / 2
    analysis = np.empty((subbands, taps + 1))
    synthesis = np.empty((subbands, taps + 1))
    for band in range(subbands):
        phase = (2 * band + 1) * math.pi / (2 * subbands) * n
        offset = (-1) ** band * math.pi / 4
        analysis[band] = 2 * prototype * np.cos(phase + offset)
        synthesis[band] = 2 * prototype * np.cos(phase - offset)
    return analysis, synthesis


class PQMF(nn.Module):
    """PQMF analysis / synthesis filter bank (no learnable parameters).

    Args:
        subbands: number of bands.
        taps: prototype filter order (even).
        cutoff_ratio: prototype cut-off as a fraction of Nyquist.
        beta: Kaiser window beta.
        scaled: unit-DC-gain prototype (default); ``False`` for ParallelWaveGAN's unscaled one.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        analysis_filter: Tensor  # buffer (subbands, 1, taps + 1)
        synthesis_filter: Tensor  # buffer (subbands, 1, taps + 1)

    def __init__(
        self,
        subbands: int = 4,
        taps: int = 62,
        cutoff_ratio: float = 0.142,
        beta: float = 9.0,
        scaled: bool = True,
    ) -> None:
        super().__init__()
        if subbands < 1:
            raise ValueError(f"PQMF subbands must be >= 1, got {subbands}")
        self.subbands = subbands
        self.taps = taps
        analysis, synthesis = pqmf_filters(subbands, taps, cutoff_ratio, beta, scaled)
        # analysis: plain conv1d weights (subbands, 1, taps + 1).
        self.register_buffer(
            "analysis_filter",
            torch.from_numpy(analysis).float().unsqueeze(1),
            persistent=False,
        )
        # synthesis as conv_transpose1d weights (subbands, 1, taps + 1): conv_transpose applies
        # the kernel mirrored, so store g_k reversed; the gain K makes up for zero insertion.
        self.register_buffer(
            "synthesis_filter",
            torch.from_numpy(subbands * synthesis[:, ::-1].copy()).float().unsqueeze(1),
            persistent=False,
        )

    def analysis(self, x: Tensor) -> Tensor:
        """Split a full-band signal into critically sampled sub-bands.

        Args:
            x: (B, 1, T) waveform, ``T`` divisible by ``subbands``.

        Returns:
            (B, subbands, T // subbands) sub-band signals.
        """
        if x.shape[-1] % self.subbands:
            raise ValueError(
                f"PQMF analysis needs a length divisible by {self.subbands}, got {x.shape[-1]}"
            )
        weight = self.analysis_filter.to(x.dtype)
        return F.conv1d(F.pad(x, (self.taps // 2, self.taps // 2)), weight, stride=self.subbands)

    def synthesis(self, y: Tensor) -> Tensor:
        """Merge sub-bands back into a full-band signal.

        Args:
            y: (B, subbands, L) sub-band signals.

        Returns:
            (B, 1, L * subbands) waveform.
        """
        weight = self.synthesis_filter.to(y.dtype)
        return F.conv_transpose1d(
            y,
            weight,
            stride=self.subbands,
            padding=self.taps // 2,
            output_padding=self.subbands - 1,
        )

    def forward(self, x: Tensor) -> Tensor:
        """Analysis then synthesis: x (B, 1, T) -> (B, 1, T), a near-perfect reconstruction."""
        return self.synthesis(self.analysis(x))

    def extra_repr(self) -> str:
        return f"subbands={self.subbands}, taps={self.taps}"
