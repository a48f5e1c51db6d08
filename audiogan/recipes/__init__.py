"""The tiny recipes shipped with the package: small models of every generator for CPU runs.

``audiogan/recipes/tiny/<name>.yaml`` is one small recipe per generator (HiFi-GAN, MelGAN,
multi-band MelGAN, iSTFT head, BigVGAN, WaveGAN), installed with the package. ``audiogan demo``
and the test suite build their configs from them (the recipe plus explicit ``key=value``
overrides), and a checkout's ``recipes/tiny/<name>.yaml`` are links to them. Their ``data`` paths
point at the checkout's ``runs/tiny/data`` (relative to the file); anywhere else, override
``data.train`` / ``data.valid``::

    >>> from audiogan.recipes import load_tiny_recipe, path_override
    >>> config = load_tiny_recipe("hifigan", ["training.max_steps=10",
    ...                                       path_override("data.train", "my/train.tsv")])

This package reads recipes into :class:`audiogan.config.Config` and imports nothing but
:mod:`audiogan.config`: its layer is directly above the config layer (the CLI, training and
evaluation may use it; inference and everything below never need it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from audiogan.config import Config, load_config
from audiogan.config.schema import ConfigError

__all__ = [
    "TINY_DIR",
    "UnknownRecipeError",
    "load_tiny_recipe",
    "path_override",
    "tiny_recipe",
    "tiny_recipe_names",
]

TINY_DIR = Path(__file__).resolve().parent / "tiny"
"""Where the tiny recipe YAMLs are installed (package data, see setup.cfg)."""


class UnknownRecipeError(ConfigError):
    """No tiny recipe of that name; the message lists the ones there are."""


def tiny_recipe_names() -> list[str]:
    """The tiny recipes there are, sorted (``["hifigan", "istft", "melgan", ...]``)."""
    return sorted(path.stem for path in TINY_DIR.glob("*.yaml"))


def tiny_recipe(name: str) -> Path:
    """The installed YAML file of the tiny recipe ``name`` (e.g. ``"hifigan"``).

    Raises:
        UnknownRecipeError: no tiny recipe is called ``name`` (the message lists those there are).
    """
    path = TINY_DIR / f"{name}.yaml"
    if os.sep in name or "/" in name or not path.is_file():
        raise UnknownRecipeError(
            f"{name!r} is not a tiny recipe; choose one of {', '.join(tiny_recipe_names())}"
        )
    return path


def load_tiny_recipe(name: str, overrides: Sequence[str] = ()) -> Config:
    """The tiny recipe ``name`` loaded with ``key=value`` overrides applied (as ``--set``).

    Args:
        name: one of :func:`tiny_recipe_names`.
        overrides: e.g. ``["training.max_steps=4", "generator.params.channels=32"]``;
            values are YAML, paths relative to the working directory (see :func:`path_override`).

    Returns:
        The validated, fully resolved config.

    Raises:
        UnknownRecipeError: no such tiny recipe.
        ConfigError: an override names an unknown key or an invalid value (one line).
    """
    return load_config(tiny_recipe(name), overrides)


def path_override(key: str, path: str | os.PathLike[str]) -> str:
    """A ``key=value`` override that sets ``key`` to exactly ``path``.

    The value is written as a quoted YAML string, so a path that YAML would otherwise read as
    something else (``null``, ``a: b``, ``[x]``, ``123``) stays the same string.

    Args:
        key: a dotted config key, e.g. ``"data.train"``.
        path: the path (relative paths are relative to the working directory when loaded).
    """
    quoted = yaml.safe_dump(os.fspath(path), default_style='"', width=10**9, allow_unicode=True)
    return f"{key}={quoted.rstrip()}"
