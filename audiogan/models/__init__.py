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


def _import_all() -> None:
    # Importing the modules registers their classes.
    import importlib

    for name in ("hifigan", "melgan", "istft", "wavegan", "discriminators",
                 "wavegan_discriminator", "melgan_discriminator"):
        try:
            importlib.import_module(f"audiogan.models.{name}")
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != f"audiogan.models.{name}":
                raise


def build_generator(name: str, **params: Any) -> Generator:
    """Build the generator registered as ``name`` (e.g. ``"hifigan"``) with ``params``."""
    return GENERATORS.build(name, **params)


def build_discriminator(name: str, **params: Any) -> Discriminator:
    """Build the discriminator registered as ``name`` (e.g. ``"combined"``) with ``params``."""
    return DISCRIMINATORS.build(name, **params)


# Registers every architecture (the modules import GENERATORS/DISCRIMINATORS from here).
_import_all()

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "Discriminator",
    "DiscriminatorOutput",
    "Generator",
    "build_discriminator",
    "build_generator",
]
