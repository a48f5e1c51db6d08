"""Generators and discriminators, built by registry name.

>>> from audiogan.models import build_generator
>>> gen = build_generator("hifigan", preset="v1", in_channels=80)
"""

from __future__ import annotations

from typing import Any

from audiogan.core.registry import Registry
from audiogan.models.base import Discriminator, DiscriminatorOutput, Generator

GENERATORS: Registry[Generator] = Registry("generator")
DISCRIMINATORS: Registry[Discriminator] = Registry("discriminator")


def build_generator(name: str, **params: Any) -> Generator:
    """Build the generator registered as ``name`` (e.g. ``"hifigan"``) with ``params``."""
    return GENERATORS.build(name, **params)


def build_discriminator(name: str, **params: Any) -> Discriminator:
    """Build the discriminator registered as ``name`` (e.g. ``"combined"``) with ``params``."""
    return DISCRIMINATORS.build(name, **params)


# Importing the architecture modules registers their classes (they import GENERATORS and
# DISCRIMINATORS from here, so the import comes after both are defined).
from audiogan.models import (  # noqa: E402, F401
    bigvgan,
    cqt_discriminator,
    discriminators,
    hifigan,
    istft,
    melgan,
    melgan_discriminator,
    parallel_wavegan,
    pwg_discriminator,
    wavegan,
    wavegan_discriminator,
)

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "Discriminator",
    "DiscriminatorOutput",
    "Generator",
    "build_discriminator",
    "build_generator",
]
