"""GAN losses: adversarial objectives, gradient penalty, feature matching, spectral losses.

Everything here works on :class:`~audiogan.models.base.DiscriminatorOutput` (one logit tensor
and one feature list per sub-discriminator) and returns a float32 scalar, also under autocast.
Adversarial and feature-matching terms are *summed* over sub-discriminators (and layers), each
term being a mean over its own elements: the reduction the published loss weights assume
(HiFi-GAN: feature matching 2, mel 45). The weights themselves are config data; the trainer
combines the parts as ``total = sum(w * parts[k] for k, w in weights.items())``.

Example:
    >>> adversarial = ADVERSARIAL_LOSSES.build("lsgan")
    >>> loss_d = adversarial.discriminator(disc(real), disc(fake.detach()))
    >>> loss_g = adversarial.generator(disc(fake))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.features import MelSpectrogram
from audiogan.models.base import DiscriminatorOutput
from audiogan.registry import Registry

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AdversarialLoss",
    "BCELoss",
    "HingeLoss",
    "LSGANLoss",
    "MelLoss",
    "MultiResolutionMelLoss",
    "MultiResolutionSTFTLoss",
    "SubbandSTFTLoss",
    "WGANGPLoss",
    "feature_matching_loss",
    "gradient_penalty",
]


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


# --------------------------------------------------------------------------- adversarial

ADVERSARIAL_LOSSES: Registry[AdversarialLoss] = Registry("adversarial loss")


class AdversarialLoss:
    """Generator and discriminator sides of one GAN objective.

    Each side is a mean over a sub-discriminator's logits, summed over sub-discriminators;
    logits are promoted to float32. The caller detaches the generated batch before scoring it
    for the discriminator step (``disc(fake.detach())``).

    Attributes:
        needs_gradient_penalty: True when the objective expects :func:`gradient_penalty` to be
            added to the discriminator loss (WGAN-GP).
    """

    needs_gradient_penalty: bool = False

    def generator_term(self, fake: Tensor) -> Tensor:
        """Generator loss for one sub-discriminator's logits ``fake`` (any shape) -> scalar."""
        raise NotImplementedError

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        """Discriminator loss for one sub-discriminator's real / fake logits -> scalar."""
        raise NotImplementedError

    def generator(self, fake: DiscriminatorOutput) -> Tensor:
        """Generator loss: falls as the discriminator scores generated audio as real.

        Args:
            fake: the discriminator's output for generated audio (not detached).

        Returns:
            float32 scalar, summed over sub-discriminators.
        """
        return _sum(self.generator_term(logit.float()) for logit in fake.logits)

    def discriminator(self, real: DiscriminatorOutput, fake: DiscriminatorOutput) -> Tensor:
        """Discriminator loss.

        Args:
            real: output for real audio.
            fake: output for (detached) generated audio.

        Returns:
            float32 scalar, summed over sub-discriminators.
        """
        if len(real.logits) != len(fake.logits):
            raise ValueError(
                f"real has {len(real.logits)} sub-discriminator outputs, fake {len(fake.logits)}"
            )
        return _sum(
            self.discriminator_term(real_logit.float(), fake_logit.float())
            for real_logit, fake_logit in zip(real.logits, fake.logits)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@ADVERSARIAL_LOSSES.register("lsgan")
class LSGANLoss(AdversarialLoss):
    """Least squares GAN (targets 1 real, 0 fake): G ``mean((D(G(z)) - 1)^2)``,
    D ``mean((D(x) - 1)^2) + mean(D(G(z))^2)``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return (fake - 1).pow(2).mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return (real - 1).pow(2).mean() + fake.pow(2).mean()


@ADVERSARIAL_LOSSES.register("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge loss: G ``-mean(D(G(z)))``, D ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return -fake.mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


@ADVERSARIAL_LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    """Non-saturating GAN on logits: G ``mean(softplus(-D(G(z))))`` = ``-log sigmoid``,
    D ``mean(softplus(-D(x))) + mean(softplus(D(G(z))))``."""

    def generator_term(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()


@ADVERSARIAL_LOSSES.register("wgan_gp")
class WGANGPLoss(AdversarialLoss):
    """Wasserstein critic: G ``-mean(D(G(z)))``, D ``mean(D(G(z))) - mean(D(x))``; the trainer
    adds :func:`gradient_penalty` to the discriminator side (``needs_gradient_penalty``)."""

    needs_gradient_penalty = True

    def generator_term(self, fake: Tensor) -> Tensor:
        return -fake.mean()

    def discriminator_term(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None = None,
    *,
    weight: float = 10.0,
    alpha: Tensor | None = None,
) -> Tensor:
    """WGAN-GP penalty: ``weight * mean((||grad_x D(x_hat)||_2 - 1)^2)``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` (both detached); the gradient is that of the
    sum of all sub-discriminators' logits, taken per example over all of its samples, with
    ``create_graph=True`` so the penalty trains the discriminator (double backward).

    Args:
        discriminator: called as ``discriminator(x_hat, labels)``, returns a
            :class:`DiscriminatorOutput`.
        real: (B, 1, T) real audio.
        fake: (B, 1, T) generated audio.
        labels: (B,) class labels for conditional discriminators.
        weight: the penalty coefficient lambda (10 in the paper).
        alpha: (B, 1, 1) interpolation weights; drawn uniformly from [0, 1) (global RNG) if None.

    Returns:
        float32 scalar.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    real = real.detach().float()
    fake = fake.detach().float()
    if alpha is None:
        shape = (real.size(0),) + (1,) * (real.dim() - 1)
        alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    output = discriminator(x_hat, labels)
    score = _sum(logit.float().sum() for logit in output.logits)
    (grad,) = torch.autograd.grad(score, x_hat, create_graph=True)
    norm = torch.sqrt(grad.float().flatten(1).pow(2).sum(dim=1) + 1e-12)
    return weight * (norm - 1).pow(2).mean()


def feature_matching_loss(
    real: DiscriminatorOutput, fake: DiscriminatorOutput, reduction: str = "sum"
) -> Tensor:
    """L1 distance between the discriminator's feature maps for real and generated audio.

    Each feature map contributes ``mean(|real - fake|)`` (real detached).

    Args:
        real: output for real audio.
        fake: output for generated audio (not detached: the generator learns from it).
        reduction: ``"sum"`` (default) over all layers of all sub-discriminators, as HiFi-GAN;
            ``"mean"`` averages over all those feature maps instead.

    Returns:
        float32 scalar.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if len(real.features) != len(fake.features):
        raise ValueError(
            f"real has {len(real.features)} sub-discriminator outputs, fake {len(fake.features)}"
        )
    terms: list[Tensor] = []
    for real_maps, fake_maps in zip(real.features, fake.features):
        if len(real_maps) != len(fake_maps):
            raise ValueError(f"real has {len(real_maps)} feature maps, fake {len(fake_maps)}")
        for real_map, fake_map in zip(real_maps, fake_maps):
            terms.append((real_map.detach().float() - fake_map.float()).abs().mean())
    total = _sum(terms)
    return total / len(terms) if reduction == "mean" else total


# --------------------------------------------------------------------------- spectral


class MelLoss(nn.Module):
    """L1 distance between log-mel spectrograms (HiFi-GAN's reconstruction loss).

    The loss mel has its own ``f_max``: ``None`` (sr/2) as in HiFi-GAN, whose *input* mel stops
    at 8 kHz. Computed in float32 with autocast disabled.

    Args:
        profile: feature profile (see :mod:`audiogan.features`).
        sample_rate: audio sample rate in Hz.
        n_fft, hop_length, win_length, n_mels, f_min: STFT / mel sizes.
        f_max: highest mel edge in Hz; ``None`` means sample_rate / 2.
    """

    def __init__(
        self,
        *,
        profile: str = "hifigan",
        sample_rate: int,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        self.mel = MelSpectrogram(
            profile,
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
        )

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
            losses.append(
                MelLoss(
                    profile=profile,
                    sample_rate=sample_rate,
                    n_fft=n_fft,
                    hop_length=hop,
                    win_length=win,
                    n_mels=n_mels,
                    f_min=f_min,
                    f_max=f_max,
                )
            )
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
        pqmf: filter bank with ``analysis(x (B, 1, T)) -> (B, S, T / S)`` (e.g.
            :class:`audiogan.models.pqmf.PQMF`); stored as a submodule so it follows ``.to()``.
        fft_sizes: FFT size per resolution.
        hop_sizes: hop per resolution.
        win_lengths: window length per resolution.
    """

    def __init__(
        self,
        *,
        pqmf: nn.Module,
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
