"""ParallelWaveGAN discriminators -> audiogan discriminator configs and weights.

- ``MelGANMultiScaleDiscriminator`` (``discriminators.{i}.layers.{j}``, weight norm) ->
  ``melgan_msd`` (:mod:`audiogan.models.melgan_discriminator`, the same layers).
- ``HiFiGANMultiScaleMultiPeriodDiscriminator`` (``mpd.discriminators.{k}.convs.{j}.0`` +
  ``output_conv``; ``msd.discriminators.{i}.layers.{j}.0`` + bare last layer, the first scale
  spectral-normed when ``follow_official_norm``) -> ``combined`` with ``mpd_params:
  {post_kernel_size: 2}`` (the toolkit's period discriminators end in a ``(kernel_sizes[1] - 1,
  1)`` conv padded 1, where jik876's and audiogan's default has kernel 3).
- ``ParallelWaveGANDiscriminator`` (``conv_layers.{2i}``: the hidden convs, then the output
  conv; also what an absent ``discriminator_type`` means in the toolkit) -> ``parallel_wavegan``
  and ``ResidualParallelWaveGANDiscriminator`` (``first_conv.0``, ``conv_layers.{i}.conv`` /
  ``conv1x1_out`` / ``conv1x1_skip``, ``last_conv_layers.1`` / ``.3``) ->
  ``residual_parallel_wavegan`` (:mod:`audiogan.models.pwg_discriminator`, the same layers but
  the last block's ``conv1x1_out``, whose output the toolkit discards too),
  whatever the generator (:func:`discriminator_converter` picks by ``discriminator_type``).

Options audiogan does not reproduce (another activation, padding, pooling, norm, channel plan)
leave the weights out with the reason, as does any other discriminator type: the config still
names the closest audiogan discriminator, and ``training.init_from`` starts it new.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiogan.inference.imports.base import ImportSourceError
from audiogan.inference.imports.melgan_neurips import convert_melgan_discriminator
from audiogan.inference.imports.values import (
    config_bool,
    config_float,
    config_int,
    config_ints,
)
from audiogan.models import build_discriminator

__all__ = ["discriminator_converter", "hifigan_discriminator", "melgan_discriminator",
           "pwg_discriminator"]

#: What every converter returns: the discriminator config, its weights (or None) and a note.
Conversion = tuple[dict[str, Any], dict[str, Tensor] | None, str]
Converter = Callable[[dict[str, Any], Any, Path, Path | None], Conversion]

_DP = "discriminator_params"  # the section the discriminator's keys are in, for messages

_LRELU = {"nonlinear_activation": "LeakyReLU",
          "nonlinear_activation_params": {"negative_slope": 0.1}}

#: MelGANMultiScaleDiscriminator options melgan_msd reproduces only at these values.
_MELGAN_FIXED = {"in_channels": 1, "out_channels": 1, "bias": True,
                 "downsample_pooling": "AvgPool1d",
                 "downsample_pooling_params": {"kernel_size": 4, "stride": 2, "padding": 1,
                                               "count_include_pad": False},
                 "nonlinear_activation": "LeakyReLU", "pad": "ReflectionPad1d",
                 "pad_params": {}, "use_weight_norm": True}

#: HiFiGANMultiScaleMultiPeriodDiscriminator options combined reproduces (the toolkit's
#: defaults, which are jik876's shapes).
_HIFIGAN_FIXED: dict[str, Any] = {
    "scale_downsample_pooling": "AvgPool1d",
    "scale_downsample_pooling_params": {"kernel_size": 4, "stride": 2, "padding": 2},
    "follow_official_norm": True,
}
_SCALE_FIXED: dict[str, Any] = {
    "in_channels": 1, "out_channels": 1, "kernel_sizes": [15, 41, 5, 3], "channels": 128,
    "max_downsample_channels": 1024, "max_groups": 16, "bias": True,
    "downsample_scales": [2, 2, 4, 4, 1], **_LRELU}
_PERIOD_FIXED: dict[str, Any] = {
    "in_channels": 1, "out_channels": 1, "kernel_sizes": [5, 3], "channels": 32,
    "downsample_scales": [3, 3, 3, 3, 1], "max_downsample_channels": 1024, "bias": True,
    **_LRELU, "use_weight_norm": True, "use_spectral_norm": False}


def _mismatch(given: Any, fixed: dict[str, Any], prefix: str) -> str | None:
    """The first key of ``given`` whose value differs from ``fixed`` (lists compare as lists)."""
    if not isinstance(given, dict):
        return f"{prefix} is not a mapping"
    for key, wanted in fixed.items():
        value = given.get(key, wanted)
        if isinstance(wanted, list) and isinstance(value, (list, tuple)):
            value = list(value)
        if value != wanted:
            return f"{prefix}{key}={value!r} is not reproduced"
    return None


def melgan_discriminator(hparams: dict[str, Any], state: Any, where: Path,
                         config_path: Path | None = None) -> Conversion:
    """The ``melgan_msd`` config of a MelGAN config, its converted weights (or None) and a
    note."""
    named = config_path or where  # the config file, for its values' messages
    kind = hparams.get("discriminator_type", "ParallelWaveGANDiscriminator")
    given = hparams.get("discriminator_params") or {}
    given = given if isinstance(given, dict) else {}
    activation = given.get("nonlinear_activation_params") or {}
    slope = config_float(activation if isinstance(activation, dict) else {}, "negative_slope",
                         named, 0.2, "discriminator_params.nonlinear_activation_params")
    config: dict[str, Any] = {"name": "melgan_msd", "params": {
        "scales": config_int(given, "scales", named, 3, _DP),
        "channels": config_int(given, "channels", named, 16, _DP),
        "downsample_scales": config_ints(given, "downsample_scales", named, (4, 4, 4, 4), _DP),
        "max_channels": config_int(given, "max_downsample_channels", named, 1024, _DP),
        "kernel_sizes": config_ints(given, "kernel_sizes", named, (5, 3), _DP),
        "negative_slope": slope}}
    why = (f"{kind} has no audiogan counterpart" if kind != "MelGANMultiScaleDiscriminator"
           else _mismatch(given, _MELGAN_FIXED, "discriminator_params."))
    if why is None and not (isinstance(state, dict) and state):
        why = "none in the checkpoint"
    if why is not None:
        return config, None, _skipped(why)
    params = config["params"]
    weights = convert_melgan_discriminator(state, params["scales"],
                                           len(params["downsample_scales"]),
                                           "discriminators.{i}", "layers.{j}", where)
    return config, weights, "MelGANMultiScaleDiscriminator imported as melgan_msd (optimiser " \
                            "states are not)"


def hifigan_discriminator(hparams: dict[str, Any], state: Any, where: Path,
                          config_path: Path | None = None) -> Conversion:
    """The ``combined`` config of a HiFiGAN config, its converted weights (or None), a note."""
    named = config_path or where  # the config file, for its values' messages
    kind = hparams.get("discriminator_type", "ParallelWaveGANDiscriminator")
    given = hparams.get("discriminator_params") or {}
    given = given if isinstance(given, dict) else {}
    periods = config_ints(given, "periods", named, (2, 3, 5, 7, 11), _DP)
    scales = config_int(given, "scales", named, 3, _DP)
    config: dict[str, Any] = {"name": "combined", "params": {
        "periods": periods, "scales": scales, "mpd_params": {"post_kernel_size": 2}}}
    why = None
    if kind != "HiFiGANMultiScaleMultiPeriodDiscriminator":
        why = f"{kind} has no audiogan counterpart"
    else:
        why = (_mismatch(given, _HIFIGAN_FIXED, "discriminator_params.")
               or _mismatch(given.get("scale_discriminator_params", {}), _SCALE_FIXED,
                            "discriminator_params.scale_discriminator_params.")
               or _mismatch(given.get("period_discriminator_params", {}), _PERIOD_FIXED,
                            "discriminator_params.period_discriminator_params."))
    if why is None and not (isinstance(state, dict) and state):
        why = "none in the checkpoint"
    if why is not None:
        config["params"]["mpd_params"] = {}  # a new discriminator: audiogan's own
        return config, None, _skipped(why)
    return config, _convert_hifigan(state, len(periods), scales, where), (
        "HiFiGANMultiScaleMultiPeriodDiscriminator imported as combined (MPD output conv kernel "
        "2, as the toolkit; optimiser states are not)")


#: Parallel WaveGAN's discriminator types -> the audiogan discriminator with their layout.
_PWG_KINDS = {"ParallelWaveGANDiscriminator": "parallel_wavegan",
              "ResidualParallelWaveGANDiscriminator": "residual_parallel_wavegan"}

#: Options of both that audiogan reproduces only at these values (the toolkit's defaults).
_PWG_FIXED: dict[str, Any] = {"in_channels": 1, "out_channels": 1,
                              "nonlinear_activation": "LeakyReLU", "use_weight_norm": True}
_RESIDUAL_FIXED: dict[str, Any] = {**_PWG_FIXED, "use_causal_conv": False}
#: The other options of each (besides kernel_size, bias and the activation's parameters).
_PWG_KEYS = {"parallel_wavegan": ("layers", "conv_channels", "dilation_factor"),
             "residual_parallel_wavegan": ("layers", "stacks", "residual_channels",
                                           "gate_channels", "skip_channels", "dropout")}


def discriminator_converter(generator: str, hparams: dict[str, Any]) -> Converter:
    """The converter for a checkpoint's discriminator.

    By its ``discriminator_type`` when that is one of Parallel WaveGAN's (absent means
    ``ParallelWaveGANDiscriminator``, as in the toolkit): :func:`pwg_discriminator`, whatever the
    generator. Otherwise the converter of the ``generator``'s usual discriminator
    (``"hifigan"``: :func:`hifigan_discriminator`; any other: :func:`melgan_discriminator`),
    which names that discriminator and notes why the weights are left out for another type.
    """
    kind = hparams.get("discriminator_type", "ParallelWaveGANDiscriminator")
    if kind in _PWG_KINDS:
        return pwg_discriminator
    return hifigan_discriminator if generator == "hifigan" else melgan_discriminator


def pwg_discriminator(hparams: dict[str, Any], state: Any, where: Path,
                      config_path: Path | None = None) -> Conversion:
    """The ``parallel_wavegan`` / ``residual_parallel_wavegan`` config of a
    ``ParallelWaveGANDiscriminator`` / ``ResidualParallelWaveGANDiscriminator`` (or absent
    ``discriminator_type``), its converted weights (or None) and a note.

    Raises:
        ImportSourceError: a value of the wrong type in ``discriminator_params`` (one line naming
            the key), or a state dict whose keys do not fit the layers.
    """
    named = config_path or where  # the config file, for its values' messages
    kind = hparams.get("discriminator_type", "ParallelWaveGANDiscriminator")
    name = _PWG_KINDS[kind]
    given = hparams.get(_DP) or {}
    given = given if isinstance(given, dict) else {}
    activation = given.get("nonlinear_activation_params") or {}
    activation = activation if isinstance(activation, dict) else {}
    common: dict[str, Any] = {
        "kernel_size": config_int(given, "kernel_size", named, 3, _DP),
        "negative_slope": config_float(activation, "negative_slope", named, 0.2,
                                       f"{_DP}.nonlinear_activation_params"),
        "bias": config_bool(given, "bias", named, True, _DP)}
    if name == "parallel_wavegan":
        params = {"layers": config_int(given, "layers", named, 10, _DP),
                  "channels": config_int(given, "conv_channels", named, 64, _DP),
                  "dilation_factor": config_int(given, "dilation_factor", named, 1, _DP),
                  **common}
        fixed = _PWG_FIXED
    else:
        params = {"layers": config_int(given, "layers", named, 30, _DP),
                  "stacks": config_int(given, "stacks", named, 3, _DP),
                  "residual_channels": config_int(given, "residual_channels", named, 64, _DP),
                  "gate_channels": config_int(given, "gate_channels", named, 128, _DP),
                  "skip_channels": config_int(given, "skip_channels", named, 64, _DP),
                  "dropout": config_float(given, "dropout", named, 0.0, _DP), **common}
        fixed = _RESIDUAL_FIXED
    config: dict[str, Any] = {"name": name, "params": params}
    unknown = sorted(set(given) - set(fixed) - set(_PWG_KEYS[name])
                     - {"nonlinear_activation_params", "kernel_size", "bias"})
    extra = sorted(set(activation) - {"negative_slope"})
    why = (_mismatch(given, fixed, "discriminator_params.")
           or (f"discriminator_params.{unknown[0]} is not a {kind} option" if unknown else None)
           or (f"discriminator_params.nonlinear_activation_params.{extra[0]} is not reproduced"
               if extra else None))
    invalid = _refused_by(name, params)
    if invalid is not None:
        config["params"] = {}  # a new discriminator with audiogan's defaults
        why = why or invalid
    if why is None and not (isinstance(state, dict) and state):
        why = "none in the checkpoint"
    if why is not None:
        return config, None, _skipped(why)
    if name == "residual_parallel_wavegan":  # the last block's residual 1x1 feeds nothing
        unused = f"conv_layers.{params['layers'] - 1}.conv1x1_out."
        state = {key: value for key, value in state.items() if not key.startswith(unused)}
    return config, _convert_layers(state, _pwg_layers(name, params), where), (
        f"{kind} imported as {name} (optimiser states are not)")


def _refused_by(name: str, params: dict[str, Any]) -> str | None:
    """Why audiogan's ``name`` refuses ``params`` (built on the meta device), or None."""
    try:
        with torch.device("meta"):
            build_discriminator(name, **params)
    except ValueError as exc:
        return f"discriminator_params give {name} {exc}"
    return None


def _pwg_layers(name: str, params: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(their prefix, our prefix, has a bias)`` of every conv of a Parallel WaveGAN
    discriminator."""
    bias = bool(params["bias"])
    if name == "parallel_wavegan":
        hidden = params["layers"] - 1  # conv_layers interleaves convs and activations
        return [(f"conv_layers.{2 * i}", f"convs.{i}", bias) for i in range(hidden)] + [
            (f"conv_layers.{2 * hidden}", "post", bias)]
    layers = [("first_conv.0", "first", True)]
    for i in range(params["layers"]):
        theirs, ours = f"conv_layers.{i}", f"blocks.{i}"
        layers += [(f"{theirs}.conv", f"{ours}.conv", bias),
                   (f"{theirs}.conv1x1_skip", f"{ours}.skip", bias)]
        if i < params["layers"] - 1:  # the last block has no residual 1x1 (it feeds nothing)
            layers.append((f"{theirs}.conv1x1_out", f"{ours}.out", bias))
    return [*layers, ("last_conv_layers.1", "head", True), ("last_conv_layers.3", "post", True)]


def _skipped(why: str) -> str:
    return f"discriminator not imported ({why}); training.init_from starts a new one"


def _convert_hifigan(state: dict[str, Any], periods: int, scales: int,
                     where: Path) -> dict[str, Tensor]:
    layers: list[tuple[str, str, bool]] = []
    for k in range(periods):
        theirs, ours = f"mpd.discriminators.{k}", f"parts.0.discriminators.{k}"
        layers += [(f"{theirs}.convs.{j}.0", f"{ours}.convs.{j}", True) for j in range(5)]
        layers.append((f"{theirs}.output_conv", f"{ours}.post", True))
    for i in range(scales):
        theirs, ours = f"msd.discriminators.{i}", f"parts.1.discriminators.{i}"
        layers += [(f"{theirs}.layers.{j}.0", f"{ours}.convs.{j}", True) for j in range(7)]
        layers.append((f"{theirs}.layers.7", f"{ours}.post", True))
    return _convert_layers(state, layers, where)


def _convert_layers(state: dict[str, Any], layers: list[tuple[str, str, bool]],
                    where: Path) -> dict[str, Tensor]:
    """The toolkit's normed conv layers -> ours, in the training layout (parametrisations kept).

    ``layers``: ``(their prefix, our prefix, has a bias)`` per conv. Weight norm
    (``weight_g`` / ``weight_v``) becomes ``parametrizations.weight.original0`` / ``original1``,
    spectral norm (``weight_orig`` / ``weight_u`` / ``weight_v``) ``original`` / ``0._u`` /
    ``0._v``. Every key of ``state`` must be used (ImportSourceError naming the first missing or
    unexpected one).
    """
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def tensor(key: str) -> Tensor:
        value = state.get(key)
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{where}: discriminator key {key!r} is missing")
        used.add(key)
        return value.float()

    for theirs, ours, bias in layers:
        if bias:
            out[f"{ours}.bias"] = tensor(f"{theirs}.bias")
        if f"{theirs}.weight_orig" in state:  # spectral norm
            out[f"{ours}.parametrizations.weight.original"] = tensor(f"{theirs}.weight_orig")
            out[f"{ours}.parametrizations.weight.0._u"] = tensor(f"{theirs}.weight_u")
            out[f"{ours}.parametrizations.weight.0._v"] = tensor(f"{theirs}.weight_v")
        else:
            out[f"{ours}.parametrizations.weight.original0"] = tensor(f"{theirs}.weight_g")
            out[f"{ours}.parametrizations.weight.original1"] = tensor(f"{theirs}.weight_v")
    unknown = sorted(set(state) - used)
    if unknown:
        raise ImportSourceError(f"{where}: unexpected discriminator key {unknown[0]!r}")
    return out
