"""kan-bayashi/ParallelWaveGAN's ``ParallelWaveGANGenerator`` -> audiogan ``parallel_wavegan``.

:func:`parallel_wavegan_params` reads ``generator_params`` (refusing, with one line naming the
key, the options audiogan does not reproduce: causal convs, no upsampling network or another
one, an activation inside it, a frequency-axis kernel, other input/output channels, ...);
:func:`convert_parallel_wavegan` maps the state dict (old-style weight norm ``weight_g`` /
``weight_v`` folded, plain ``weight`` taken as is):

- ``upsample_net.conv_in`` -> ``upsample.conv_in``; ``upsample_net.upsample.up_layers.{2i+1}``
  (Conv2d (1, 1, 1, 2s + 1)) -> ``upsample.stretches.i`` (Conv1d (1, 1, 2s + 1));
- ``first_conv`` -> ``first_conv``; ``last_conv_layers.{1,3}`` -> ``head.{1,3}``;
- ``conv_layers.i.conv`` / ``conv1x1_aux`` -> ``blocks.i.conv`` / ``aux``; ``conv1x1_out`` and
  ``conv1x1_skip`` -> ``blocks.i.out`` (residual rows, then skip rows; the last block keeps
  only the skip rows: its residual output feeds nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiogan.inference.imports import base
from audiogan.inference.imports.base import ImportSourceError
from audiogan.inference.imports.values import config_float, config_int, config_ints

__all__ = ["convert_parallel_wavegan", "parallel_wavegan_params"]

_GP = "generator_params"

#: generator_params key -> (the value audiogan reproduces, the toolkit's default)
_FIXED: dict[str, tuple[Any, Any]] = {
    "in_channels": (1, 1),
    "out_channels": (1, 1),
    "use_causal_conv": (False, False),
    "upsample_conditional_features": (True, True),
    "upsample_net": ("ConvInUpsampleNetwork", "ConvInUpsampleNetwork"),
}

#: upsample_params key -> (reproduced value, default); upsample_scales is read separately
_UPSAMPLE_FIXED: dict[str, tuple[Any, Any]] = {
    "nonlinear_activation": (None, None),
    "interpolate_mode": ("nearest", "nearest"),
    "freq_axis_kernel_size": (1, 1),
}

_KNOWN = set(_FIXED) | {"kernel_size", "layers", "stacks", "residual_channels",
                        "gate_channels", "skip_channels", "aux_channels", "aux_context_window",
                        "dropout", "bias", "use_weight_norm", "upsample_params"}


def parallel_wavegan_params(params: dict[str, Any], where: Path) -> dict[str, Any]:
    """Our ``parallel_wavegan`` params for a ``ParallelWaveGANGenerator``'s ``generator_params``.

    Raises:
        ImportSourceError: an option audiogan does not reproduce, or a bad value (named).
    """
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise ImportSourceError(f"{where}: unknown key '{_GP}.{unknown[0]}' for 'generator_type' "
                                "ParallelWaveGANGenerator (the toolkit's default when absent)")
    for key, (wanted, default) in _FIXED.items():
        value = params.get(key, default)
        if value != wanted:
            raise ImportSourceError(f"{where}: '{_GP}.{key}' is {value!r}; audiogan reproduces "
                                    f"only {wanted!r}")
    upsample = params.get("upsample_params") or {}
    if not isinstance(upsample, dict):
        raise ImportSourceError(f"{where}: '{_GP}.upsample_params' must be a mapping")
    # the toolkit overwrites use_causal_conv / aux_channels / aux_context_window in there with
    # the generator's own values, and ignores nonlinear_activation_params without an activation
    extra = sorted(set(upsample) - set(_UPSAMPLE_FIXED) - {
        "upsample_scales", "nonlinear_activation_params", "use_causal_conv", "aux_channels",
        "aux_context_window"})
    if extra:
        raise ImportSourceError(f"{where}: '{_GP}.upsample_params.{extra[0]}' is not "
                                "reproduced by audiogan")
    for key, (wanted, default) in _UPSAMPLE_FIXED.items():
        value = upsample.get(key, default)
        if value != wanted:
            raise ImportSourceError(f"{where}: '{_GP}.upsample_params.{key}' is {value!r}; "
                                    f"audiogan reproduces only {wanted!r}")
    section = f"{_GP}.upsample_params"
    scales = config_ints(upsample, "upsample_scales", where, (4, 4, 4, 4), section)
    if not scales or min(scales) < 1:
        raise ImportSourceError(f"{where}: '{section}.upsample_scales' must be a non-empty "
                                "list of integers >= 1")
    gen: dict[str, Any] = {
        "in_channels": config_int(params, "aux_channels", where, 80, _GP),
        "layers": config_int(params, "layers", where, 30, _GP),
        "stacks": config_int(params, "stacks", where, 3, _GP),
        "residual_channels": config_int(params, "residual_channels", where, 64, _GP),
        "gate_channels": config_int(params, "gate_channels", where, 128, _GP),
        "skip_channels": config_int(params, "skip_channels", where, 64, _GP),
        "kernel_size": config_int(params, "kernel_size", where, 3, _GP),
        "aux_context_window": config_int(params, "aux_context_window", where, 2, _GP),
        "upsample_scales": scales,
        "dropout": config_float(params, "dropout", where, 0.0, _GP),
        "bias": params.get("bias", True),
    }
    if not isinstance(gen["bias"], bool):
        raise ImportSourceError(f"{where}: '{_GP}.bias' must be true or false")
    for key in ("in_channels", "layers", "stacks", "residual_channels", "gate_channels",
                "skip_channels", "kernel_size"):
        if gen[key] < 1:
            theirs = "aux_channels" if key == "in_channels" else key
            raise ImportSourceError(f"{where}: '{_GP}.{theirs}' must be >= 1")
    if gen["layers"] % gen["stacks"]:
        raise ImportSourceError(f"{where}: '{_GP}.layers' must be a multiple of 'stacks' (the "
                                "toolkit asserts it)")
    if gen["kernel_size"] % 2 == 0 or gen["gate_channels"] % 2:
        raise ImportSourceError(f"{where}: '{_GP}.kernel_size' must be odd and "
                                "'gate_channels' even (the toolkit asserts both)")
    if gen["aux_context_window"] < 0 or not 0.0 <= gen["dropout"] < 1.0:
        raise ImportSourceError(f"{where}: '{_GP}.aux_context_window' must be >= 0 and "
                                "'dropout' in [0, 1)")
    return gen


class _Taker:
    """Takes (folded) weights out of a state dict, remembering which keys were used."""

    def __init__(self, weights: dict[str, Any], where: Path) -> None:
        self.weights, self.where, self.used = weights, where, set[str]()

    def tensor(self, key: str) -> Tensor:
        value = self.weights.get(key)
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{self.where}: generator key {key!r} is missing or not a "
                                    "tensor; the checkpoint does not match its config")
        self.used.add(key)
        return value.float()

    def weight(self, layer: str) -> Tensor:
        if f"{layer}.weight_g" in self.weights or f"{layer}.weight_v" in self.weights:
            return base.fold_weight_norm(self.tensor(f"{layer}.weight_g"),
                                         self.tensor(f"{layer}.weight_v"))
        return self.tensor(f"{layer}.weight")

    def check_all_used(self) -> None:
        unknown = sorted(set(self.weights) - self.used)
        if unknown:
            raise ImportSourceError(f"{self.where}: unexpected generator key {unknown[0]!r} for "
                                    "the architecture its config describes; check the config")


def convert_parallel_wavegan(weights: dict[str, Any], gen: dict[str, Any],
                             where: Path) -> dict[str, Tensor]:
    """A ``ParallelWaveGANGenerator`` state dict -> our ``parallel_wavegan``'s (folded weights).

    Args:
        weights: the checkpoint's ``model.generator`` (``mean`` / ``scale`` removed).
        gen: our params, from :func:`parallel_wavegan_params`.
        where: the checkpoint, for messages.

    Raises:
        ImportSourceError: a key missing or left over (named).
    """
    take = _Taker(weights, where)
    out: dict[str, Tensor] = {"upsample.conv_in.weight": take.weight("upsample_net.conv_in")}
    for i in range(len(gen["upsample_scales"])):
        stretch = take.weight(f"upsample_net.upsample.up_layers.{2 * i + 1}")
        out[f"upsample.stretches.{i}.weight"] = stretch.reshape(1, 1, -1)
    for theirs, ours in (("first_conv", "first_conv"), ("last_conv_layers.1", "head.1"),
                         ("last_conv_layers.3", "head.3")):
        out[f"{ours}.weight"] = take.weight(theirs)
        out[f"{ours}.bias"] = take.tensor(f"{theirs}.bias")
    bias = gen["bias"]
    layers = gen["layers"]
    for i in range(layers):
        theirs, ours = f"conv_layers.{i}", f"blocks.{i}"
        out[f"{ours}.conv.weight"] = take.weight(f"{theirs}.conv")
        out[f"{ours}.aux.weight"] = take.weight(f"{theirs}.conv1x1_aux")
        skip_w = take.weight(f"{theirs}.conv1x1_skip")
        res_w = take.weight(f"{theirs}.conv1x1_out")
        skip_b = take.tensor(f"{theirs}.conv1x1_skip.bias") if bias else None
        res_b = take.tensor(f"{theirs}.conv1x1_out.bias") if bias else None
        if bias:
            out[f"{ours}.conv.bias"] = take.tensor(f"{theirs}.conv.bias")
        if i == layers - 1:  # the last block's residual output feeds nothing
            out[f"{ours}.out.weight"] = skip_w
            if skip_b is not None:
                out[f"{ours}.out.bias"] = skip_b
        else:
            out[f"{ours}.out.weight"] = _rows(res_w, skip_w)
            if res_b is not None and skip_b is not None:
                out[f"{ours}.out.bias"] = _rows(res_b, skip_b)
    take.check_all_used()
    return out


def _rows(first: Tensor, second: Tensor) -> Tensor:
    return torch.cat((first, second), dim=0)
