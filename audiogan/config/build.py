"""Config -> model objects: the generator, the discriminator and the input features.

Used by training, inference, import and the demo alike; the trainer never names an
architecture, it asks these functions for parts.
"""

from __future__ import annotations

from typing import Any

from audiogan.config import Config
from audiogan.features.mel import MelSpectrogram
from audiogan.models import GENERATORS, Discriminator, Generator, build_discriminator
from audiogan.models import build_generator as _build_generator

__all__ = ["build_discriminator_from", "build_features", "build_generator", "generator_params"]


def generator_params(config: Config) -> dict[str, Any]:
    """``generator.params`` with what the rest of the config implies: ``in_channels`` =
    ``features.n_mels`` for a generator that takes mels (unless given)."""
    params = dict(config.generator.params)
    if GENERATORS.get(config.generator.name).input_kind == "mel":
        params.setdefault("in_channels", config.features.n_mels)
    return params


def build_generator(config: Config) -> Generator:
    """The generator of ``config`` (``in_channels`` = ``features.n_mels`` for vocoders)."""
    return _build_generator(config.generator.name, **generator_params(config))


def build_discriminator_from(config: Config) -> Discriminator:
    """The discriminator of ``config``."""
    return build_discriminator(config.discriminator.name, **dict(config.discriminator.params))


def build_features(config: Config) -> MelSpectrogram:
    """The model's input features (the one audio -> mel path)."""
    return MelSpectrogram(config.feature_spec())
