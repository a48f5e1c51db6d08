"""Named presets with keyword overrides, shared by the generators that have published shapes
(HiFi-GAN, BigVGAN): look the preset up, refuse unknown fields, and normalise the override
values that come from YAML (lists -> tuples of ints; kernel sizes default to twice the rates).
Each generator then checks its own consistency rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

__all__ = ["apply_preset"]

P = TypeVar("P")


def apply_preset(presets: Mapping[str, P], label: str, preset: str,
                 overrides: Mapping[str, object]) -> P:
    """``presets[preset]`` with the non-``None`` ``overrides`` applied.

    Args:
        presets: name -> frozen dataclass instance.
        label: the model's name in messages (``"HiFi-GAN"``, ``"BigVGAN"``).
        preset: the preset's name.
        overrides: dataclass fields; ``None`` keeps the preset's value. ``upsample_rates``
            without ``upsample_kernel_sizes`` gives kernels of twice the rates; the size lists
            become tuples of ints and ``resblock`` a string.

    Raises:
        ValueError: unknown preset (the message lists the valid ones).
        TypeError: an unknown field.
    """
    try:
        base = presets[preset]
    except KeyError:
        valid = ", ".join(presets)
        raise ValueError(f"unknown {label} preset {preset!r}; valid presets: {valid}") from None
    known = {field.name for field in fields(base)}  # type: ignore[arg-type]
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown {label} fields {sorted(unknown)}; valid: {sorted(known)}")
    given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
    if "upsample_rates" in given and "upsample_kernel_sizes" not in given:
        given["upsample_kernel_sizes"] = tuple(2 * int(rate) for rate in given["upsample_rates"])
    for name in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
        if name in given:
            given[name] = tuple(int(value) for value in given[name])
    if "resblock_dilation_sizes" in given:
        given["resblock_dilation_sizes"] = tuple(
            tuple(int(dilation) for dilation in dilations)
            for dilations in given["resblock_dilation_sizes"])
    if "resblock" in given:
        given["resblock"] = str(given["resblock"])
    return replace(base, **given)  # type: ignore[type-var]
