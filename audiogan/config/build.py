"""Config -> model objects: the generator, the discriminator, the input features and the
generator's loss terms.

Used by training, inference, import and the demo alike; the trainer never names an
architecture nor a loss, it asks these functions for parts. Each is ``<part>_from_config``:
``audiogan.models.build_generator(name, **params)`` is the by-name builder they call.
"""

from __future__ import annotations

import inspect
from typing import Any

from audiogan.config import Config
from audiogan.features.mel import MelSpectrogram
from audiogan.losses import (
    ADVERSARIAL_LOSSES,
    MelLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    SubbandSTFTLoss,
)
from audiogan.losses.terms import GeneratorLossTerms
from audiogan.models import (
    DISCRIMINATORS,
    GENERATORS,
    Discriminator,
    Generator,
    build_discriminator,
)
from audiogan.models import build_generator as _build_generator
from audiogan.models.pqmf import PQMF

__all__ = [
    "discriminator_from_config",
    "discriminator_params",
    "features_from_config",
    "generator_from_config",
    "generator_params",
    "loss_terms_from_config",
]


def generator_params(config: Config) -> dict[str, Any]:
    """``generator.params`` with what the rest of the config implies: ``in_channels`` =
    ``features.n_mels`` for a generator that takes mels (unless given)."""
    params = dict(config.generator.params)
    if GENERATORS.get(config.generator.name).input_kind == "mel":
        params.setdefault("in_channels", config.features.n_mels)
    return params


def generator_from_config(config: Config) -> Generator:
    """The generator of ``config`` (``in_channels`` = ``features.n_mels`` for vocoders)."""
    return _build_generator(config.generator.name, **generator_params(config))


def discriminator_params(config: Config) -> dict[str, Any]:
    """``discriminator.params`` with ``sample_rate`` = the config's for a discriminator that
    takes one (``cqtd``, ``combined``), unless given."""
    params = dict(config.discriminator.params)
    factory = DISCRIMINATORS.get(config.discriminator.name)
    if "sample_rate" in inspect.signature(factory).parameters:
        params.setdefault("sample_rate", config.sample_rate)
    return params


def discriminator_from_config(config: Config) -> Discriminator:
    """The discriminator of ``config`` (given the config's ``sample_rate`` where it takes one)."""
    return build_discriminator(config.discriminator.name, **discriminator_params(config))


def features_from_config(config: Config) -> MelSpectrogram:
    """The model's input features (the one audio -> mel path)."""
    return MelSpectrogram(config.feature_spec())


def loss_terms_from_config(config: Config) -> GeneratorLossTerms:
    """The generator's weighted loss of ``config.loss``: only the weighted terms' modules are
    built. The mel term's unset sizes (``loss.mel.n_fft``, ...) are the features' own."""
    loss = config.loss
    weights = dict(loss.weights)
    adversarial = ADVERSARIAL_LOSSES.build(loss.adversarial)
    mel = multiscale_mel = stft = subband_stft = None
    if "mel" in weights:
        m, f = loss.mel, config.feature_spec()
        mel = MelLoss(
            profile=f.profile,
            sample_rate=config.sample_rate,
            n_fft=m.n_fft or f.n_fft,
            hop_length=m.hop_length or f.hop_length,
            win_length=m.win_length or f.win_length,
            n_mels=m.n_mels or f.n_mels,
            f_min=m.f_min,
            f_max=m.f_max,
        )
    if "multiscale_mel" in weights:
        ms = loss.multiscale_mel
        multiscale_mel = MultiScaleMelLoss(
            sample_rate=config.sample_rate, n_mels=ms.n_mels, window_lengths=ms.window_lengths,
            f_min=ms.f_min, f_max=ms.f_max,
        )
    if "stft" in weights:
        s = loss.stft
        stft = MultiResolutionSTFTLoss(
            fft_sizes=s.fft_sizes, hop_sizes=s.hop_sizes, win_lengths=s.win_lengths
        )
    if "subband_stft" in weights:
        sb = loss.subband_stft
        subband_stft = SubbandSTFTLoss(
            pqmf=PQMF(), fft_sizes=sb.fft_sizes, hop_sizes=sb.hop_sizes,
            win_lengths=sb.win_lengths,
        )
    return GeneratorLossTerms(
        weights, adversarial, feature_matching_reduction=loss.feature_matching_reduction,
        mel=mel, multiscale_mel=multiscale_mel, stft=stft, subband_stft=subband_stft,
    )
