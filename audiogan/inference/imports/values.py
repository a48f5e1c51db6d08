"""Typed reads of scalar and list values from another toolkit's config (JSON / YAML mapping).

A reader that wrote ``int(hparams["n_fft"])`` would stop on ``"n_fft": null`` or
``"sampling_rate": "22k"`` with a TypeError / ValueError traceback; these helpers raise
:class:`~audiogan.inference.imports.base.ImportSourceError` instead: one line naming the file, the
key, the bad value and what is accepted. Booleans are not numbers here (``true`` is not a
batch size), and an integer may be written as an integral float (``22050.0``).
:func:`upsample_stages` reads and checks the upsampler of a jik876-style config (HiFi-GAN and
BigVGAN readers).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from audiogan.inference.imports.base import ImportSourceError

__all__ = ["MISSING", "as_bool", "as_float", "as_int", "config_bool", "config_float", "config_int",
           "config_ints", "config_optional_float", "upsample_stages"]


class _Missing:
    """The type of :data:`MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The ``default`` meaning "the key is required"."""


def _lookup(hparams: dict[str, Any], key: str, where: Path, default: Any) -> Any:
    if key in hparams:
        return hparams[key]
    if default is MISSING:
        raise ImportSourceError(f"{where}: key {key!r} is missing; the source toolkit's config "
                                "needs it")
    return default


def _name(section: str, key: str) -> str:
    """``key`` as the message names it: ``section.key`` inside a nested mapping."""
    return f"{section}.{key}" if section else key


def _bad(where: Path, key: str, value: Any, wanted: str) -> ImportSourceError:
    return ImportSourceError(f"{where}: key {key!r} is {value!r}; it must be {wanted}: fix "
                             "the value in the config file")


def as_int(value: Any, key: str, where: Path) -> int:
    """``value`` as an int (an int, or an integral finite float; not a bool), else
    ImportSourceError naming ``key`` (a dotted or indexed name for messages)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where, key, value, "an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise _bad(where, key, value, "an integer")
    return int(value)


def config_int(hparams: dict[str, Any], key: str, where: Path, default: Any = MISSING,
               section: str = "") -> int:
    """``hparams[key]`` as an int; ``default`` when absent (required when :data:`MISSING`).
    ``section`` names the mapping ``hparams`` is in for messages (``generator_params``); the
    other ``config_*`` readers take it too.

    Raises:
        ImportSourceError: absent and required, or not an integer (null, a string, a bool, a
            list, 8192.5), naming ``where`` and ``key``.
    """
    return as_int(_lookup(hparams, key, where, default), _name(section, key), where)


def as_float(value: Any, key: str, where: Path, optional: bool = False) -> float | None:
    """``value`` as a float (an int or a finite float; not a bool), None for a null value when
    ``optional``; else ImportSourceError naming ``key``."""
    if value is None and optional:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value)):
        raise _bad(where, key, value, "a finite number" + (" or null" if optional else ""))
    return float(value)


def config_float(hparams: dict[str, Any], key: str, where: Path, default: Any = MISSING,
                 section: str = "") -> float:
    """``hparams[key]`` as a float; ``default`` when absent (required when :data:`MISSING`).

    Raises:
        ImportSourceError: absent and required, or not a finite number, naming ``where`` and
            ``key``.
    """
    value = as_float(_lookup(hparams, key, where, default), _name(section, key), where)
    assert value is not None  # not optional
    return value


def config_optional_float(hparams: dict[str, Any], key: str, where: Path,
                          default: Any = MISSING, section: str = "") -> float | None:
    """As :func:`config_float`, but null gives None (e.g. ``fmax``: null is the Nyquist rate)."""
    return as_float(_lookup(hparams, key, where, default), _name(section, key), where,
                    optional=True)


def as_bool(value: Any, key: str, where: Path) -> bool:
    """``value`` as a bool: true / false, or 1 / 0 (which Python configs read alike); else
    ImportSourceError naming ``key`` (``"false"`` is not false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _bad(where, key, value, "true or false")


def config_bool(hparams: dict[str, Any], key: str, where: Path, default: Any = MISSING,
                section: str = "") -> bool:
    """``hparams[key]`` as a bool (:func:`as_bool`); ``default`` when absent.

    Raises:
        ImportSourceError: absent and required, or not a bool, naming ``where`` and ``key``.
    """
    return as_bool(_lookup(hparams, key, where, default), _name(section, key), where)


def config_ints(hparams: dict[str, Any], key: str, where: Path,
                default: Any = MISSING, section: str = "") -> list[int]:
    """``hparams[key]`` as a list of ints (a JSON list or YAML sequence of integers).

    Raises:
        ImportSourceError: absent and required, not a list, or an entry that is not an integer
            (named as ``key[i]``).
    """
    value, name = _lookup(hparams, key, where, default), _name(section, key)
    if not isinstance(value, list | tuple):
        raise _bad(where, name, value, "a list of integers")
    return [as_int(item, f"{name}[{index}]", where) for index, item in enumerate(value)]


def upsample_stages(hparams: dict[str, Any], where: Path) -> tuple[list[int], list[int]]:
    """The checked ``upsample_rates`` and ``upsample_kernel_sizes`` of a jik876-style config
    (HiFi-GAN and BigVGAN): one kernel per rate, and rates multiplying to ``hop_size``.

    Raises:
        ImportSourceError: a stage the reference pads as ``(k-u)//2`` with ``k < u`` or an odd
            ``k-u`` (its output is then not frames x hop long), or any mismatch above; one line
            naming the key.
    """
    rates = config_ints(hparams, "upsample_rates", where)
    kernels = config_ints(hparams, "upsample_kernel_sizes", where)
    if len(rates) != len(kernels) or not rates:
        raise ImportSourceError(f"{where}: 'upsample_rates' and 'upsample_kernel_sizes' need "
                                "one entry per stage")
    for index, (rate, kernel) in enumerate(zip(rates, kernels)):
        if kernel < rate or (kernel - rate) % 2:
            raise ImportSourceError(
                f"{where}: 'upsample_kernel_sizes'[{index}]={kernel} with rate {rate} is not "
                "imported: the reference pads (k-u)//2, which for k < u or an odd k-u changes "
                "the output length; retrain with a kernel >= the rate and of the same parity, "
                f"e.g. {2 * rate}")
    hop = config_int(hparams, "hop_size", where)
    if math.prod(rates) != hop:
        raise ImportSourceError(f"{where}: 'upsample_rates' multiply to {math.prod(rates)}, "
                                f"but 'hop_size' is {hop}")
    return rates, kernels
