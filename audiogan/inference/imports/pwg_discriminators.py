"""ParallelWaveGAN discriminators -> audiogan discriminator configs and weights.

- ``MelGANMultiScaleDiscriminator`` (``discriminators.{i}.layers.{j}``, weight norm) ->
  ``melgan_msd`` (:mod:`audiogan.models.melgan_discriminator`, the same layers).
- ``HiFiGANMultiScaleMultiPeriodDiscriminator`` (``mpd.discriminators.{k}.convs.{j}.0`` +
  ``output_conv``; ``msd.discriminators.{i}.layers.{j}.0`` + bare last layer, the first scale
  spectral-normed when ``follow_official_norm``) -> ``combined`` with ``mpd_params:
  {post_kernel_size: 2}`` (the toolkit's period discriminators end in a ``(kernel_sizes[1] - 1,
  1)`` conv padded 1, where jik876's and audiogan's default has kernel 3).

Options audiogan does not reproduce (another activation, padding, pooling, norm, channel plan)
leave the weights out with the reason, as does any other discriminator type: the config still
names the closest audiogan discriminator, and ``training.init_from`` starts it new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from audiogan.inference.imports.base import ImportSourceError
from audiogan.inference.imports.melgan_neurips import convert_melgan_discriminator
from audiogan.inference.imports.values import config_float, config_int, config_ints

__all__ = ["hifigan_discriminator", "melgan_discriminator"]

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
                         config_path: Path | None = None
                         ) -> tuple[dict[str, Any], dict[str, Tensor] | None, str]:
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
                          config_path: Path | None = None
                          ) -> tuple[dict[str, Any], dict[str, Tensor] | None, str]:
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


def _skipped(why: str) -> str:
    return f"discriminator not imported ({why}); training.init_from starts a new one"


def _convert_hifigan(state: dict[str, Any], periods: int, scales: int,
                     where: Path) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def take(theirs: str, ours: str) -> None:
        def tensor(key: str) -> Tensor:
            value = state.get(key)
            if not isinstance(value, Tensor):
                raise ImportSourceError(f"{where}: discriminator key {key!r} is missing")
            used.add(key)
            return value.float()

        out[f"{ours}.bias"] = tensor(f"{theirs}.bias")
        if f"{theirs}.weight_orig" in state:  # spectral norm
            out[f"{ours}.parametrizations.weight.original"] = tensor(f"{theirs}.weight_orig")
            out[f"{ours}.parametrizations.weight.0._u"] = tensor(f"{theirs}.weight_u")
            out[f"{ours}.parametrizations.weight.0._v"] = tensor(f"{theirs}.weight_v")
        else:
            out[f"{ours}.parametrizations.weight.original0"] = tensor(f"{theirs}.weight_g")
            out[f"{ours}.parametrizations.weight.original1"] = tensor(f"{theirs}.weight_v")

    for k in range(periods):
        theirs, ours = f"mpd.discriminators.{k}", f"parts.0.discriminators.{k}"
        for j in range(5):
            take(f"{theirs}.convs.{j}.0", f"{ours}.convs.{j}")
        take(f"{theirs}.output_conv", f"{ours}.post")
    for i in range(scales):
        theirs, ours = f"msd.discriminators.{i}", f"parts.1.discriminators.{i}"
        for j in range(7):
            take(f"{theirs}.layers.{j}.0", f"{ours}.convs.{j}")
        take(f"{theirs}.layers.7", f"{ours}.post")
    unknown = sorted(set(state) - used)
    if unknown:
        raise ImportSourceError(f"{where}: unexpected discriminator key {unknown[0]!r}")
    return out
