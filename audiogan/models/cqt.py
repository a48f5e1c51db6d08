"""Constant-Q transform by octave-wise decimation, in PyTorch.

One set of kernels covers the top octave only (the Brown-Puckette kernels of that octave, in the
time domain); every lower octave applies the same kernels to the signal low-pass filtered and
decimated by 2 once more, with the hop halved (Schoerkhuber & Klapuri, 2010). The result is the
CQT of nnAudio's ``CQT2010v2`` (the transform BigVGAN-v2's CQT discriminator uses) with
``filter_scale=1``, a periodic Hann window, L1-normalised kernels, zero padding
(``pad_mode="constant"``) and its ``"librosa"`` output scaling:

    X[k, t] = sqrt(N_k) * sum_n x_o[t * hop_o + n] * w_k[n] * exp(-2 pi i f_k n / sr_o)
                                                              / sum_n w_k[n]

for bin ``k`` of octave ``o`` (``x_o``: the signal decimated ``o`` times below the top octave,
``sr_o``, ``hop_o`` its rate and hop; ``w_k``: Hann window of the top-octave kernel's length;
``N_k = ceil(Q * sr / f_k)`` the full-rate length of bin ``k``, ``Q = 1 / (2^(1/b) - 1)``).
The kernels are laid out as nnAudio's: the buffer names (``cqt_kernels_real``, ...) and shapes
are its own, so a state dict saved with the reference transform loads unchanged.

Where the top octave lies far below Nyquist, the signal is first decimated by a power of two
(the "early downsampling" rule of librosa and nnAudio), which scales the output by that factor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import firwin2
from torch import Tensor, nn

__all__ = ["ConstantQTransform", "cqt_kernels", "early_decimation_count", "halfband_lowpass"]

# Decimation filters: 256 taps designed by frequency sampling (scipy's firwin2, Hamming window).
LOWPASS_TAPS = 256
HANN_BANDWIDTH = 1.5  # main-lobe width of the Hann window in bins, for the early-decimation cutoff


def halfband_lowpass(band_edge: float = 0.5, transition: float = 0.001) -> np.ndarray:
    """The anti-aliasing FIR filter applied before each decimation.

    Args:
        band_edge: the cut-off as a fraction of Nyquist (0.5 before halving the rate).
        transition: relative half-width of the transition band around ``band_edge``.

    Returns:
        ``(LOWPASS_TAPS,)`` float32 coefficients: gain 1 up to ``band_edge / (1 + transition)``,
        0 from ``band_edge * (1 + transition)``.
    """
    edges = [0.0, band_edge / (1 + transition), band_edge * (1 + transition), 1.0]
    return firwin2(LOWPASS_TAPS, edges, [1.0, 1.0, 0.0, 0.0]).astype(np.float32)


def cqt_kernels(quality: float, sample_rate: float, fmin: float, n_filters: int,
                bins_per_octave: int) -> tuple[np.ndarray, int]:
    """Time-domain CQT kernels of ``n_filters`` bins from ``fmin``.

    Kernel ``k`` (frequency ``f_k = fmin * 2^(k / bins_per_octave)``) has ``N_k =
    ceil(quality * sample_rate / f_k)`` taps ``w[n] exp(2 pi i f_k n / sample_rate)`` for
    ``n = -ceil(N_k / 2) ... floor(N_k / 2) - 1`` (``w``: periodic Hann of length ``N_k``),
    normalised to unit L1 norm, with ``n = 0`` at index ``fft_len // 2`` of its row.

    Returns:
        ``(kernels, fft_len)``: complex64 ``(n_filters, fft_len)``; ``fft_len`` is the next
        power of two >= the longest kernel.
    """
    freqs = fmin * 2.0 ** (np.arange(n_filters) / float(bins_per_octave))
    lengths = np.ceil(quality * sample_rate / freqs).astype(np.int64)
    fft_len = int(2 ** math.ceil(math.log2(int(lengths.max()))))
    kernels = np.zeros((n_filters, fft_len), dtype=np.complex64)
    for row, (freq, length) in enumerate(zip(freqs, lengths)):
        n = np.arange(length) - (length + 1) // 2
        window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)
        taps = window * np.exp(2j * np.pi * freq * n / sample_rate) / length
        start = fft_len // 2 - (length + 1) // 2
        kernels[row, start:start + length] = taps / np.abs(taps).sum()
    return kernels, fft_len


def early_decimation_count(sample_rate: float, hop_length: int, top_frequency: float,
                           quality: float, n_octaves: int) -> int:
    """How many times the signal can be halved before the top octave (librosa's rule).

    Limited by the top octave's bandwidth (its highest kernel's main lobe must stay below 85 %
    of the decimated Nyquist) and by the hop, which must keep a factor of two per octave.
    """
    cutoff = top_frequency * (1 + 0.5 * HANN_BANDWIDTH / quality)
    nyquist = sample_rate // 2
    by_band = max(0, int(math.ceil(math.log2(0.85 * nyquist / cutoff)) - 1) - 1)
    by_hop = max(0, int(math.ceil(math.log2(hop_length))) - n_octaves + 1)
    return min(by_band, by_hop)


class ConstantQTransform(nn.Module):
    """Complex CQT of a batch of waveforms (nnAudio ``CQT2010v2``'s output, see module doc).

    Computed in float32 with autocast disabled (the decimation chain loses accuracy in half
    precision).

    Args:
        sample_rate: rate of the input in Hz.
        hop_length: hop between frames, in input samples; after early decimation it must
            still be divisible by ``2^(n_octaves - 1)`` (every octave halves it).
        fmin: centre frequency of the lowest bin in Hz.
        n_bins: number of bins; ``n_octaves = ceil(n_bins / bins_per_octave)``.
        bins_per_octave: bins per octave.
        early_downsample: decimate before the top octave where the rule allows (as nnAudio).

    Raises:
        ValueError: the top bin lies above Nyquist, or the hop cannot be halved per octave.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        lowpass_filter: Tensor  # (1, 1, LOWPASS_TAPS): the per-octave decimation filter
        lenghts: Tensor  # (n_bins,): N_k, spelled as in the reference's state dicts
        cqt_kernels_real: Tensor  # (n_filters, 1, fft_len)
        cqt_kernels_imag: Tensor  # (n_filters, 1, fft_len)
        early_downsample_filter: Tensor | None  # (1, 1, LOWPASS_TAPS) or None

    def __init__(self, sample_rate: float, hop_length: int = 512, fmin: float = 32.70,
                 n_bins: int = 84, bins_per_octave: int = 12, *,
                 early_downsample: bool = True) -> None:
        super().__init__()
        if n_bins < 1 or bins_per_octave < 1 or hop_length < 1:
            raise ValueError(
                f"CQT: n_bins ({n_bins}), bins_per_octave ({bins_per_octave}) and hop_length "
                f"({hop_length}) must be >= 1")
        self.n_bins = n_bins
        self.bins_per_octave = bins_per_octave
        self.n_octaves = math.ceil(n_bins / bins_per_octave)
        quality = 1.0 / (2 ** (1 / bins_per_octave) - 1)
        top_fmin = fmin * 2 ** (self.n_octaves - 1)
        used = n_bins % bins_per_octave or bins_per_octave  # bins used of the top octave
        top_fmax = top_fmin * 2 ** ((used - 1) / bins_per_octave)
        top_fmin = top_fmax / 2 ** (1 - 1 / bins_per_octave)
        if top_fmax > sample_rate / 2:
            raise ValueError(
                f"CQT: the top bin ({top_fmax:.0f} Hz) lies above Nyquist ({sample_rate / 2:g} Hz "
                f"at {sample_rate:g} Hz); use fewer octaves / bins")
        factor = 1
        if early_downsample:
            factor = 2 ** early_decimation_count(sample_rate, hop_length, top_fmax, quality,
                                                 self.n_octaves)
        self.downsample_factor = factor
        self.hop_length = hop_length // factor
        rate = sample_rate / factor
        if self.hop_length % 2 ** (self.n_octaves - 1):
            raise ValueError(
                f"CQT: hop_length {hop_length} (over {factor} after early decimation) is not "
                f"divisible by 2^{self.n_octaves - 1}, needed by {self.n_octaves} octaves; use a "
                f"hop that is a multiple of {2 ** (self.n_octaves - 1) * factor}")
        self.register_buffer("lowpass_filter", _as_filter(halfband_lowpass(0.5, 0.001)))
        early = _as_filter(halfband_lowpass(1 / factor, 0.03)) if factor > 1 else None
        self.register_buffer("early_downsample_filter", early)
        kernels, self.fft_len = cqt_kernels(quality, rate, top_fmin, min(bins_per_octave, n_bins),
                                            bins_per_octave)
        freqs = fmin * 2.0 ** (np.arange(n_bins) / float(bins_per_octave))
        self.register_buffer("lenghts", torch.tensor(np.ceil(quality * rate / freqs)).float())
        self.register_buffer("cqt_kernels_real", torch.tensor(kernels.real).unsqueeze(1))
        self.register_buffer("cqt_kernels_imag", torch.tensor(kernels.imag).unsqueeze(1))
        # Each decimation needs 2 input samples: the lowest octave's input must keep them.
        need = 2 ** (self.n_octaves - 1)
        self.min_length = need if factor == 1 else (need - 1) * factor + 2

    def frames(self, length: int) -> int:
        """Number of frames for ``length >= min_length`` input samples: ``length // hop + 1``
        (``hop``: the ``hop_length`` given); with early decimation by ``f``,
        ``((length - 2) // f + 1) // (hop / f) + 1``, one more for some lengths."""
        if self.downsample_factor > 1:
            length = (length - 2) // self.downsample_factor + 1
        return length // self.hop_length + 1

    def forward(self, wave: Tensor) -> Tensor:
        """CQT of ``wave``.

        Args:
            wave: (B, 1, T) or (B, T) waveform at ``sample_rate``.

        Returns:
            (B, n_bins, frames, 2) float32: real and imaginary parts, lowest bin first;
            ``frames = self.frames(T)`` (``T // hop_length + 1`` without early decimation).

        Raises:
            ValueError: a wave of another shape, or shorter than ``min_length`` samples.
        """
        if wave.dim() == 2:
            wave = wave.unsqueeze(1)
        if wave.dim() != 3 or wave.size(1) != 1:
            raise ValueError(f"CQT expects a waveform (B, 1, T) or (B, T), got {tuple(wave.shape)}")
        if wave.size(-1) < self.min_length:
            raise ValueError(f"CQT of {self.n_octaves} octaves needs at least {self.min_length} "
                             f"samples, got {wave.size(-1)}")
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float()
            if self.early_downsample_filter is not None:
                x = _decimate(x, self.early_downsample_filter, self.downsample_factor)
            kernels = torch.cat([self.cqt_kernels_real, self.cqt_kernels_imag]).float()
            hop = self.hop_length
            octaves = [self._octave(x, kernels, hop)]
            for _ in range(self.n_octaves - 1):
                hop //= 2
                x = _decimate(x, self.lowpass_filter.float(), 2)
                octaves.append(self._octave(x, kernels, hop))
            cqt = torch.cat(octaves[::-1], dim=1)[:, -self.n_bins:]
            scale = self.lenghts.float().sqrt() * self.downsample_factor
            return cqt * scale.view(-1, 1, 1)

    def _octave(self, x: Tensor, kernels: Tensor, hop: int) -> Tensor:
        """(B, n_filters, frames, 2): the top-octave kernels correlated with ``x`` every ``hop``."""
        half = self.fft_len // 2
        out = F.conv1d(F.pad(x, (half, half)), kernels, stride=hop)
        real, imag = out.chunk(2, dim=1)
        return torch.stack((real, -imag), dim=-1)


def _as_filter(taps: np.ndarray) -> Tensor:
    """``taps`` as a conv1d weight (1, 1, len)."""
    return torch.tensor(taps).view(1, 1, -1)


def _decimate(x: Tensor, taps: Tensor, factor: int) -> Tensor:
    """Low-pass ``x`` (B, 1, T) with ``taps`` (centred) and keep every ``factor``-th sample."""
    return F.conv1d(x, taps, stride=factor, padding=(taps.size(-1) - 1) // 2)
