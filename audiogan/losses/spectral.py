"""Spectral reconstruction losses: mel L1, multi-resolution and multi-scale mel, STFT, sub-band
STFT."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.features.mel import MelSpectrogram
from audiogan.losses._common import _as_batch_time, _sum
from audiogan.models.pqmf import PQMF


class MelLoss(nn.Module):
    """L1 distance between log-mel spectrograms (HiFi-GAN's reconstruction loss).

    The loss mel has its own ``f_max``: ``None`` (sr/2) as in HiFi-GAN, whose *input* mel stops
    at 8 kHz. Computed in float32 with autocast disabled.

    Args:
        profile: feature profile (see :mod:`audiogan.features.mel`).
        sample_rate: audio sample rate in Hz.
        n_fft, hop_length, win_length, n_mels, f_min: STFT / mel sizes.
        f_max: highest mel edge in Hz; ``None`` means sample_rate / 2.
    """

    def __init__(self, *, profile: str = "hifigan", sample_rate: int, n_fft: int = 1024,
                 hop_length: int = 256, win_length: int = 1024, n_mels: int = 80,
                 f_min: float = 0.0, f_max: float | None = None) -> None:
        super().__init__()
        self.mel = MelSpectrogram(profile, sample_rate=sample_rate, n_fft=n_fft,
                                  hop_length=hop_length, win_length=win_length, n_mels=n_mels,
                                  f_min=f_min, f_max=f_max)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """L1 between log-mels.

        Args:
            fake: (B, 1, T) or (B, T) generated audio.
            real: same shape, the target.

        Returns:
            float32 scalar, the mean absolute difference over (B, n_mels, frames).
        """
        if fake.shape != real.shape:
            raise ValueError(f"fake {tuple(fake.shape)} and real {tuple(real.shape)} differ")
        with torch.autocast(device_type=fake.device.type, enabled=False):
            fake_mel = self.mel(_as_batch_time(fake).float())
            real_mel = self.mel(_as_batch_time(real).float())
            return F.l1_loss(fake_mel.float(), real_mel.float())


class MultiResolutionMelLoss(nn.Module):
    """:class:`MelLoss` at several resolutions, averaged (or summed).

    Args:
        profile: feature profile.
        sample_rate: audio sample rate in Hz.
        resolutions: ``(n_fft, hop_length, win_length, n_mels)`` per resolution.
        f_min: lowest mel edge in Hz.
        f_max: highest mel edge in Hz; ``None`` means sample_rate / 2.
        reduction: ``"mean"`` (default; comparable in scale to a single :class:`MelLoss`) or
            ``"sum"`` over resolutions.
    """

    def __init__(
        self,
        *,
        profile: str = "hifigan",
        sample_rate: int,
        resolutions: Sequence[Sequence[int]] = (
            (512, 128, 512, 40),
            (1024, 256, 1024, 80),
            (2048, 512, 2048, 160),
        ),
        f_min: float = 0.0,
        f_max: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        if not resolutions:
            raise ValueError("MultiResolutionMelLoss needs at least one resolution")
        self.reduction = reduction
        losses = []
        for resolution in resolutions:
            if len(resolution) != 4:
                raise ValueError(f"a resolution is (n_fft, hop, win, n_mels), got {resolution}")
            n_fft, hop, win, n_mels = (int(value) for value in resolution)
            losses.append(MelLoss(profile=profile, sample_rate=sample_rate, n_fft=n_fft,
                                  hop_length=hop, win_length=win, n_mels=n_mels, f_min=f_min,
                                  f_max=f_max))
        self.losses = nn.ModuleList(losses)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """Mel L1 over all resolutions.

        Args:
            fake: (B, 1, T) generated audio.
            real: (B, 1, T) target.

        Returns:
            float32 scalar.
        """
        total = _sum(loss(fake, real) for loss in self.losses)
        return total / len(self.losses) if self.reduction == "mean" else total


class MultiResolutionSTFTLoss(nn.Module):
    """Parallel WaveGAN's multi-resolution STFT loss.

    Per resolution: spectral convergence ``||Y - X||_F / ||Y||_F`` (Frobenius norms over the
    whole batch) plus log-magnitude L1 ``mean(|log Y - log X|)``, where ``X``/``Y`` are the
    STFT magnitudes (``center=True``, reflect, Hann window of ``win_length`` zero-padded to
    ``n_fft``, ``sqrt(max(re^2 + im^2, 1e-7))``) of fake / real. The loss is the mean of that
    sum over resolutions, computed in float32 with autocast disabled.

    Args:
        fft_sizes: FFT size per resolution.
        hop_sizes: hop per resolution.
        win_lengths: window length per resolution (<= its FFT size).
    """

    def __init__(
        self,
        *,
        fft_sizes: Sequence[int] = (1024, 2048, 512),
        hop_sizes: Sequence[int] = (120, 240, 50),
        win_lengths: Sequence[int] = (600, 1200, 240),
    ) -> None:
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths) or not fft_sizes:
            raise ValueError("fft_sizes, hop_sizes and win_lengths must be equal-length, non-empty")
        for n_fft, win in zip(fft_sizes, win_lengths):
            if win > n_fft:
                raise ValueError(f"win_length {win} > fft size {n_fft}")
        self.resolutions = [
            (int(n_fft), int(hop), int(win))
            for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths)
        ]
        for index, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window_{index}", torch.hann_window(win), persistent=False)

    def _magnitude(self, x: Tensor, index: int) -> Tensor:
        """(N, T) float32 -> (N, n_fft // 2 + 1, frames) STFT magnitude."""
        n_fft, hop, win = self.resolutions[index]
        window: Tensor = getattr(self, f"window_{index}")
        spec = torch.stft(
            x,
            n_fft,
            hop_length=hop,
            win_length=win,
            window=window.float(),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        spec = torch.view_as_real(spec)
        return torch.sqrt(spec.pow(2).sum(-1).clamp(min=1e-7))

    def components(self, fake: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
        """Spectral convergence and log-magnitude L1, each averaged over resolutions.

        Args:
            fake: (B, 1, T), (B, T) or (N, T) generated signal(s).
            real: same shape, the target.

        Returns:
            ``(spectral_convergence, log_magnitude)``, float32 scalars.
        """
        if fake.shape != real.shape:
            raise ValueError(f"fake {tuple(fake.shape)} and real {tuple(real.shape)} differ")
        with torch.autocast(device_type=fake.device.type, enabled=False):
            fake_2d = _as_batch_time(fake).float()
            real_2d = _as_batch_time(real).float()
            convergence, log_magnitude = [], []
            for index in range(len(self.resolutions)):
                fake_mag = self._magnitude(fake_2d, index)
                real_mag = self._magnitude(real_2d, index)
                convergence.append(
                    torch.linalg.norm(real_mag - fake_mag) / torch.linalg.norm(real_mag)
                )
                log_magnitude.append(F.l1_loss(torch.log(fake_mag), torch.log(real_mag)))
            count = len(self.resolutions)
            return _sum(convergence) / count, _sum(log_magnitude) / count

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """Mean over resolutions of (spectral convergence + log-magnitude L1).

        Args:
            fake: (B, 1, T) or (B, T) generated audio.
            real: same shape, the target.

        Returns:
            float32 scalar.
        """
        convergence, log_magnitude = self.components(fake, real)
        return convergence + log_magnitude


class SubbandSTFTLoss(nn.Module):
    """Multi-band MelGAN's sub-band STFT loss.

    The target is split into sub-bands with ``pqmf.analysis``; every sub-band of every example
    is then one signal for a :class:`MultiResolutionSTFTLoss` at sub-band resolutions.

    Args:
        pqmf: filter bank with ``analysis(x (B, 1, T)) -> (B, S, T / S)``
            (:class:`audiogan.models.pqmf.PQMF`); stored as a submodule so it follows ``.to()``.
        fft_sizes: FFT size per resolution.
        hop_sizes: hop per resolution.
        win_lengths: window length per resolution.
    """

    def __init__(
        self,
        *,
        pqmf: PQMF,
        fft_sizes: Sequence[int] = (384, 683, 171),
        hop_sizes: Sequence[int] = (30, 60, 10),
        win_lengths: Sequence[int] = (150, 300, 60),
    ) -> None:
        super().__init__()
        self.pqmf = pqmf
        self.stft_loss = MultiResolutionSTFTLoss(
            fft_sizes=fft_sizes, hop_sizes=hop_sizes, win_lengths=win_lengths
        )

    def forward(self, fake_subbands: Tensor, real: Tensor) -> Tensor:
        """Multi-resolution STFT loss between generated and analysed target sub-bands.

        Args:
            fake_subbands: (B, S, T / S) generated sub-band signals (before PQMF synthesis).
            real: (B, 1, T) full-band target.

        Returns:
            float32 scalar.
        """
        with torch.autocast(device_type=real.device.type, enabled=False), torch.no_grad():
            real_subbands = self.pqmf.analysis(real.float())
        if fake_subbands.shape != real_subbands.shape:
            raise ValueError(
                f"fake sub-bands {tuple(fake_subbands.shape)} do not match the target's "
                f"{tuple(real_subbands.shape)}"
            )
        length = fake_subbands.size(-1)
        return self.stft_loss(fake_subbands.reshape(-1, length), real_subbands.reshape(-1, length))


class MultiScaleMelLoss(nn.Module):
    """BigVGAN-v2's multi-scale log-mel L1 (its ``use_multiscale_melloss``).

    At each scale ``i``: a centred STFT (reflect padding, periodic Hann window of
    ``window_lengths[i]`` = FFT size, hop ``window_lengths[i] // 4``), magnitude ``|X|``, a
    librosa Slaney mel basis of ``n_mels[i]`` bands over ``[f_min, f_max]`` and
    ``log10(max(mel, 1e-5))``; the loss is the *sum* over scales of the mean absolute difference
    between the generated and the target log-mels. Each scale is a
    :class:`~audiogan.features.mel.MelSpectrogram` of the ``pwg`` profile (those conventions,
    with a ``log10(max(x, 1e-10))`` floor) whose output is clamped at ``log10(1e-5) = -5``:
    ``max(log10(max(x, 1e-10)), -5) = log10(max(x, 1e-5))``, values and gradients alike.
    Computed in float32 with autocast disabled.

    Args:
        sample_rate: audio sample rate in Hz.
        n_mels: mel bands per scale.
        window_lengths: window (= FFT) length per scale, in samples; the hop is a quarter.
        f_min: lowest mel edge in Hz, every scale.
        f_max: highest mel edge in Hz, every scale; ``None`` means sample_rate / 2.

    Raises:
        ValueError: ``n_mels`` and ``window_lengths`` differ in length or are empty, or a
            window is shorter than 4 samples.
    """

    LOG_FLOOR = -5.0
    """``log10(1e-5)``: BigVGAN-v2's clamp of the mel magnitudes, on the log scale."""

    def __init__(
        self,
        *,
        sample_rate: int,
        n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
        window_lengths: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048),
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        if len(n_mels) != len(window_lengths) or not n_mels:
            raise ValueError("n_mels and window_lengths must be equal-length and non-empty, got "
                             f"{list(n_mels)} and {list(window_lengths)}")
        for window in window_lengths:
            if int(window) < 4:
                raise ValueError(f"window length {window} is below 4 (the hop is window // 4)")
        self.mels = nn.ModuleList(
            MelSpectrogram("pwg", sample_rate=sample_rate, n_fft=int(window),
                           hop_length=int(window) // 4, win_length=int(window),
                           n_mels=int(bands), f_min=f_min, f_max=f_max)
            for bands, window in zip(n_mels, window_lengths)
        )

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """Sum over scales of the log10-mel L1 between ``fake`` and ``real`` (generated and
        target audio, (B, 1, T) or (B, T), of one shape); a float32 scalar."""
        if fake.shape != real.shape:
            raise ValueError(f"fake {tuple(fake.shape)} and real {tuple(real.shape)} differ")
        with torch.autocast(device_type=fake.device.type, enabled=False):
            fake_2d = _as_batch_time(fake).float()
            real_2d = _as_batch_time(real).float()
            return _sum(
                F.l1_loss(mel(fake_2d).clamp(min=self.LOG_FLOOR),
                          mel(real_2d).clamp(min=self.LOG_FLOOR))
                for mel in self.mels
            )
