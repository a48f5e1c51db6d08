"""NVIDIA BigVGAN / BigVGAN-v2 checkpoints -> an audiogan ``bigvgan`` model directory.

Files (NVIDIA's naming):

- ``bigvgan_generator.pt``: ``{"generator": state_dict}`` (the released models on the Hugging
  Face hub, and what the ``bigvgan`` package's ``save_pretrained`` writes), with weight norm as
  ``weight_g`` / ``weight_v``, as ``parametrizations.weight.original0/1``, or already folded
  into a plain ``weight``: all three are read.
- ``config.json`` beside it (or ``--config``): the generator's shape, the features, the
  discriminators and the training settings.
- ``bigvgan_discriminator_optimizer.pt`` beside it (optional): ``{"mpd", "mrd", "optim_g",
  "optim_d", "steps", "epoch"}``. ``mpd`` is the multi-period discriminator; ``mrd`` holds the
  multi-resolution discriminator, or in v2 (``use_cqtd_instead_of_mrd``) the CQT one. Both go to
  ``discriminator.safetensors`` (for ``training.init_from``); optimiser states are not imported.
- ``g_XXXXXXXX`` / ``do_XXXXXXXX`` (BigVGAN's own training script) with a BigVGAN
  ``config.json`` beside them (``activation`` is ``snake`` or ``snakebeta``; without one such
  files are jik876/hifi-gan's).

audiogan's ``bigvgan`` generator keeps NVIDIA's module names (``conv_pre``, ``ups.<i>.0``,
``resblocks.<j>.convs1/convs2/convs/activations``, ``activation_post``, ``conv_post`` and the
anti-aliasing filters' buffers), so the generator's keys map one to one once weight norm is
folded; the discriminators' map with ``conv_post`` -> ``post`` and weight norm as
parametrisations. The features are :data:`~audiogan.features.spec.BIGVGAN_FEATURES`'s kind:
profile ``hifigan`` with the config's sizes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import Tensor

from audiogan.features.spec import BIGVGAN_FEATURES
from audiogan.inference.imports import base
from audiogan.inference.imports.base import Converted, Detection, FormatReader, ImportSourceError
from audiogan.inference.imports.values import (
    as_bool,
    as_float,
    as_int,
    config_bool,
    config_float,
    config_int,
    config_ints,
    config_optional_float,
    upsample_stages,
)

__all__ = ["BigVGANReader", "bigvgan_config", "convert_discriminators", "convert_generator",
           "published_shape"]

GENERATOR_FILE = "bigvgan_generator.pt"
DISCRIMINATOR_FILE = "bigvgan_discriminator_optimizer.pt"
_G_NAME = re.compile(r"^g_(\d+)$")
_DO_NAME = re.compile(r"^do_(\d+)$")
_ACTIVATIONS = ("snake", "snakebeta")

#: Weight-norm storage suffixes of a layer: (suffix, "g" or "v").
_NORM_SUFFIXES = (("weight_g", "g"), ("weight_v", "v"),
                  ("parametrizations.weight.original0", "g"),
                  ("parametrizations.weight.original1", "v"))


def _bigvgan_config_beside(path: Path) -> bool:
    """Whether ``path``'s directory holds a BigVGAN ``config.json`` (never raises)."""
    try:
        data = json.loads(path.with_name("config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("activation") in _ACTIVATIONS


@base.register
class BigVGANReader(FormatReader):
    """NVIDIA BigVGAN ``bigvgan_generator.pt`` (+ ``config.json``, discriminators)."""

    name = "bigvgan"
    title = "NVIDIA BigVGAN"
    files = (f"{GENERATOR_FILE} + config.json [+ {DISCRIMINATOR_FILE}], or g_XXXXXXXX "
             "[+ do_XXXXXXXX] beside a BigVGAN config.json")
    sources = (
        base.KnownSource(
            "bigvgan", "BigVGAN-v2 22/24/44 kHz and BigVGAN v1 (large and base) generators and "
            "discriminators",
            "https://huggingface.co/nvidia (repositories bigvgan_v2_44khz_128band_512x, "
            "bigvgan_v2_24khz_100band_256x, bigvgan_24khz_100band, ...): bigvgan_generator.pt, "
            "config.json, bigvgan_discriminator_optimizer.pt", "MIT"),
    )

    def detect(self, path: Path) -> Detection | None:
        """Recognised by NVIDIA's file names; ``g_`` / ``do_`` files only beside a config.json
        whose ``activation`` is BigVGAN's."""
        if path.is_dir():
            if (path / GENERATOR_FILE).is_file():
                return self._detection(path / GENERATOR_FILE)
            found = sorted((p for p in path.iterdir() if _G_NAME.match(p.name) and p.is_file()),
                           key=lambda p: base.name_number(_G_NAME, p))
            if found and _bigvgan_config_beside(found[-1]):
                return self._detection(found[-1])
            return None
        if path.name == GENERATOR_FILE:
            return self._detection(path)
        if path.name == DISCRIMINATOR_FILE:
            return self._detection(self._beside(path, path.with_name(GENERATOR_FILE)))
        do_match = _DO_NAME.match(path.name)
        if do_match and _bigvgan_config_beside(path):
            return self._detection(self._beside(path, path.with_name(f"g_{do_match.group(1)}")))
        if _G_NAME.match(path.name) and _bigvgan_config_beside(path):
            return self._detection(path)
        return None

    @staticmethod
    def _beside(discriminator: Path, generator: Path) -> Path:
        if not generator.is_file():
            raise ImportSourceError(
                f"{discriminator}: a BigVGAN discriminator checkpoint; the generator "
                f"({generator.name}) is not beside it: give the generator file")
        return generator

    def _detection(self, checkpoint: Path) -> Detection:
        match = _G_NAME.match(checkpoint.name)
        partner = (checkpoint.with_name(f"do_{match.group(1)}") if match
                   else checkpoint.with_name(DISCRIMINATOR_FILE))
        extra = {"discriminator": partner} if partner.is_file() else {}
        return self.detection(checkpoint, "config.json", extra)

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert the generator (and, unless ``generator_only``, the discriminators)."""
        source = detection.checkpoint
        config_path = self.config_path(detection, config_file, "config.json",
                                       "BigVGAN's config.json")
        hparams = base.read_json(config_path)
        state = base.safe_torch_load(source)
        weights = state.get("generator") if isinstance(state, dict) else None
        if not isinstance(weights, dict):
            keys = sorted(map(str, state))[:4] if isinstance(state, dict) else type(state).__name__
            raise ImportSourceError(f"{source}: no 'generator' state dict in it (holds {keys}); "
                                    f"give BigVGAN's {GENERATOR_FILE}")
        generator = convert_generator(weights, source)
        conv_pre = generator.get("conv_pre.weight")
        if conv_pre is None or conv_pre.dim() != 3:
            raise ImportSourceError(f"{source}: generator key 'conv_pre.weight' (or its "
                                    "weight_g/weight_v) is missing; give BigVGAN's generator")
        data = bigvgan_config(hparams, int(conv_pre.shape[1]), config_path)
        notes = []
        shape = published_shape(data)
        if shape is not None:  # every option is explicit; the preset names the shape
            data["generator"]["params"] = {"preset": shape, **data["generator"]["params"]}
            notes.append(f"the published BigVGAN shape {shape!r} (generator preset and features)")
        step = int(match.group(1)) if (match := _G_NAME.match(source.name)) else None
        discriminator = None
        if "discriminator" in detection.extra and not detection.generator_only:
            path = detection.extra["discriminator"]
            do_state = base.safe_torch_load(path)
            discriminator, note = convert_discriminators(do_state, hparams, path)
            if discriminator is None:
                notes.append(f"discriminators in {path.name} not imported: {note}")
            else:
                notes.append(f"discriminators imported from {path.name} (optimiser states are "
                             f"not){note}")
                steps = do_state.get("steps") if isinstance(do_state, dict) else None
                if step is None and isinstance(steps, int) and not isinstance(steps, bool):
                    step = steps
        return Converted(base.build_config(data, config_path), generator, discriminator,
                         step=step, notes=notes)


# --- the config ------------------------------------------------------------------------------


def _get(hparams: dict[str, Any], key: str, where: Path) -> Any:
    if key not in hparams:
        raise ImportSourceError(f"{where}: key {key!r} is missing; it is part of every BigVGAN "
                                "config.json")
    return hparams[key]


def _int(hparams: dict[str, Any], key: str, where: Path) -> int:
    return as_int(_get(hparams, key, where), key, where)


def _ints(hparams: dict[str, Any], key: str, where: Path) -> list[int]:
    value = _get(hparams, key, where)
    if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ImportSourceError(f"{where}: {key!r} must be a non-empty list of integers, got "
                                f"{value!r}")
    return list(value)


def _generator_params(hparams: dict[str, Any], in_channels: int,
                      where: Path) -> dict[str, Any]:
    rates, kernels = upsample_stages(hparams, where)
    activation = _get(hparams, "activation", where)
    if activation not in _ACTIVATIONS:
        raise ImportSourceError(f"{where}: 'activation' is {activation!r}; BigVGAN has "
                                "'snake' or 'snakebeta'")
    resblock = str(_get(hparams, "resblock", where))
    if resblock not in ("1", "2"):
        raise ImportSourceError(f"{where}: 'resblock' is {resblock!r}; BigVGAN has '1' or '2'")
    dilations = _get(hparams, "resblock_dilation_sizes", where)
    if not isinstance(dilations, list) or not all(isinstance(d, list) for d in dilations):
        raise ImportSourceError(f"{where}: 'resblock_dilation_sizes' must be a list of lists")
    return {
        "in_channels": in_channels, "upsample_rates": rates, "upsample_kernel_sizes": kernels,
        "upsample_initial_channel": _int(hparams, "upsample_initial_channel", where),
        "resblock": resblock,
        "resblock_kernel_sizes": _ints(hparams, "resblock_kernel_sizes", where),
        "resblock_dilation_sizes": [
            [as_int(d, f"resblock_dilation_sizes[{i}][{j}]", where) for j, d in enumerate(block)]
            for i, block in enumerate(dilations)],
        "activation": activation,
        "snake_logscale": as_bool(_get(hparams, "snake_logscale", where), "snake_logscale", where),
        # absent in v1 configs: the reference's defaults (True) apply
        "use_tanh_at_final": config_bool(hparams, "use_tanh_at_final", where, True),
        "use_bias_at_final": config_bool(hparams, "use_bias_at_final", where, True),
    }


def _discriminator(hparams: dict[str, Any], where: Path) -> dict[str, Any]:
    mult = config_float(hparams, "discriminator_channel_mult", where, 1)
    mpd_channels = [int(c * mult) for c in (32, 128, 512, 1024, 1024)]
    params: dict[str, Any] = {"periods": config_ints(hparams, "mpd_reshapes", where,
                                                     [2, 3, 5, 7, 11]),
                              "scales": 0, "mpd_params": {"channels": mpd_channels}}
    if hparams.get("use_cqtd_instead_of_mrd", False):
        params["cqtd"] = True  # the reference's defaults where its config has no value
        params["cqtd_params"] = {
            "filters": config_int(hparams, "cqtd_filters", where, 32),
            "max_filters": config_int(hparams, "cqtd_max_filters", where, 1024),
            "filters_scale": config_int(hparams, "cqtd_filters_scale", where, 1),
            "dilations": config_ints(hparams, "cqtd_dilations", where, [1, 2, 4]),
            "hop_lengths": config_ints(hparams, "cqtd_hop_lengths", where, [512, 256, 256]),
            "n_octaves": config_ints(hparams, "cqtd_n_octaves", where, [9, 9, 9]),
            "bins_per_octaves": config_ints(hparams, "cqtd_bins_per_octaves", where,
                                            [24, 36, 48]),
            "normalize_volume": config_bool(hparams, "cqtd_normalize_volume", where, False),
        }
    else:
        resolutions = hparams.get(
            "resolutions", [[1024, 120, 600], [2048, 240, 1200], [512, 50, 240]])
        if not isinstance(resolutions, list) or not all(
                isinstance(r, list) and len(r) == 3 for r in resolutions):
            raise ImportSourceError(f"{where}: key 'resolutions' is {resolutions!r}; it must be "
                                    "a list of [n_fft, hop, win] lists: fix it in the config file")
        params["resolutions"] = [[as_int(v, f"resolutions[{i}][{j}]", where) for j, v in
                                  enumerate(r)] for i, r in enumerate(resolutions)]
        params["mrd_params"] = {"channels": int(32 * config_float(
            hparams, "mrd_channel_mult", where, mult)), "window": "rect",
                                "freq_first": True}
    return {"name": "combined", "params": params}


def _loss(hparams: dict[str, Any], where: Path) -> dict[str, Any]:
    """LSGAN, feature matching x 2 (the reference's ``feature_loss``), and the mel L1 times
    ``lambda_melloss``: v2's multi-scale log10 mel (the reference's default scales, which are
    audiogan's) with ``use_multiscale_melloss``, else v1's single-scale one on the features up to
    ``fmax_for_loss``."""
    weight = config_float(hparams, "lambda_melloss", where, 45.0)
    loss: dict[str, Any] = {"adversarial": "lsgan",
                            "weights": {"adversarial": 1.0, "feature_matching": 2.0}}
    if hparams.get("use_multiscale_melloss", False):
        loss["weights"]["multiscale_mel"] = weight
    else:
        loss["weights"]["mel"] = weight
        loss["mel"] = {"f_max": config_optional_float(hparams, "fmax_for_loss", where, None)}
    return loss


def _is_v2(hparams: dict[str, Any]) -> bool:
    """Whether the config is BigVGAN-v2's (its multi-scale mel loss or CQT discriminator)."""
    return bool(hparams.get("use_multiscale_melloss") or hparams.get("use_cqtd_instead_of_mrd"))


def bigvgan_config(hparams: dict[str, Any], in_channels: int, where: Path) -> dict[str, Any]:
    """The audiogan config (as a mapping) of a BigVGAN ``config.json``.

    Args:
        hparams: the parsed ``config.json``.
        in_channels: mel channels of the checkpoint's ``conv_pre``.
        where: the config file, for messages.

    Raises:
        ImportSourceError: a missing key or a shape audiogan does not reproduce (named).
    """
    sample_rate = _int(hparams, "sampling_rate", where)
    num_mels = _int(hparams, "num_mels", where)
    if in_channels != num_mels:
        raise ImportSourceError(f"{where}: 'num_mels' is {num_mels}, but the generator's "
                                f"conv_pre takes {in_channels} channels; give the checkpoint's "
                                "own config.json")
    fmax = as_float(_get(hparams, "fmax", where), "fmax", where, optional=True)
    hop = _int(hparams, "hop_size", where)
    segment = config_int(hparams, "segment_size", where, 8192)
    lr = config_float(hparams, "learning_rate", where, 1e-4)
    betas = [config_float(hparams, "adam_b1", where, 0.8),
             config_float(hparams, "adam_b2", where, 0.99)]
    return {
        "sample_rate": sample_rate,
        "features": {"profile": "hifigan", "n_fft": _int(hparams, "n_fft", where),
                     "hop_length": hop, "win_length": _int(hparams, "win_size", where),
                     "n_mels": num_mels,
                     "f_min": as_float(_get(hparams, "fmin", where), "fmin", where),
                     "f_max": fmax},
        "generator": {"name": "bigvgan",
                      "params": _generator_params(hparams, in_channels, where)},
        "discriminator": _discriminator(hparams, where),
        "loss": _loss(hparams, where),
        "optim": {part: {"name": "adamw", "lr": lr, "betas": betas}
                  for part in ("generator", "discriminator")},
        # BigVGAN-v2's training steps both schedulers every step (v2 moved them from epoch to
        # step level); v1's stepped them once per epoch, so a v1 config keeps "epoch"
        "scheduler": {"name": "exponential",
                      "gamma": config_float(hparams, "lr_decay", where, 0.9999996),
                      "interval": "step" if _is_v2(hparams) else "epoch"},
        "training": {"batch_size": config_int(hparams, "batch_size", where, 32),
                     "segment_length": max(hop, segment // hop * hop),
                     "seed": config_int(hparams, "seed", where, 1234),
                     # the reference clips G and each discriminator at this norm (1000 if absent)
                     "grad_clip": config_float(hparams, "clip_grad_norm", where, 1000.0),
                     "grad_clip_per_part": True},
    }


def published_shape(data: dict[str, Any]) -> str | None:
    """The name of the published BigVGAN configuration a converted config (:func:`bigvgan_config`)
    has the generator shape and features of, or None."""
    from audiogan.models.bigvgan import BIGVGAN_PRESETS

    params = data["generator"]["params"]
    features = {**data["features"], "sample_rate": data["sample_rate"]}
    for name, preset in BIGVGAN_PRESETS.items():
        spec = BIGVGAN_FEATURES.get(name)
        if spec is None or any(features[key] != getattr(spec, key) for key in features
                               if key != "profile"):
            continue
        mine = {"upsample_rates": tuple(params["upsample_rates"]),
                "upsample_kernel_sizes": tuple(params["upsample_kernel_sizes"]),
                "resblock_kernel_sizes": tuple(params["resblock_kernel_sizes"]),
                "resblock_dilation_sizes": tuple(map(tuple, params["resblock_dilation_sizes"])),
                "num_mels": params["in_channels"]}
        if all(getattr(preset, key) == mine.get(key, params.get(key))
               for key in preset.__dataclass_fields__):
            return name
    return None


# --- the weights -----------------------------------------------------------------------------


def _split_norm(key: str) -> tuple[str, str] | None:
    """``(layer, "g" | "v")`` for a weight-norm storage key, else None."""
    for suffix, slot in _NORM_SUFFIXES:
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], slot
    return None


def convert_generator(weights: dict[str, Any], where: Path) -> dict[str, Tensor]:
    """BigVGAN's generator state dict -> audiogan ``bigvgan`` folded weights (same keys, every
    weight-norm pair folded into ``<layer>.weight``, float32).

    Raises:
        ImportSourceError: a value that is not a tensor, or half a weight-norm pair (named).
    """
    out: dict[str, Tensor] = {}
    pairs: dict[str, dict[str, Tensor]] = {}
    for key, value in weights.items():
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{where}: generator entry {key!r} is not a tensor")
        split = _split_norm(str(key))
        if split is None:
            out[str(key)] = value.float()
        else:
            pairs.setdefault(split[0], {})[split[1]] = value.float()
    for layer, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            missing = "weight_g" if "g" not in pair else "weight_v"
            raise ImportSourceError(f"{where}: generator key '{layer}.{missing}' is missing "
                                    "(weight norm stores two tensors per layer)")
        if f"{layer}.weight" in out:
            raise ImportSourceError(f"{where}: generator layer {layer!r} holds both a plain "
                                    "weight and weight-norm tensors")
        out[f"{layer}.weight"] = base.fold_weight_norm(pair["g"], pair["v"])
    return out


def _discriminator_key(key: str, cqt: bool) -> str:
    """One reference discriminator key in audiogan's layout: weight norm parametrised, and the
    MPD's / MRD's ``conv_post`` named ``post`` (the CQT discriminator keeps ``conv_post``)."""
    split = _split_norm(key)
    if split is not None:
        layer, slot = split
        key = f"{layer}.parametrizations.weight.original{0 if slot == 'g' else 1}"
    return key if cqt else re.sub(r"(^|\.)conv_post\.", r"\1post.", key)


def convert_discriminators(state: Any, hparams: dict[str, Any],
                           where: Path) -> tuple[dict[str, Tensor] | None, str]:
    """The ``mpd`` / ``mrd`` of a BigVGAN discriminator checkpoint -> the state dict of the
    ``combined`` discriminator :func:`bigvgan_config` describes (MPD, then MRD or CQT).

    Returns:
        ``(state dict, note)`` (the note, possibly empty, says what differs), or
        ``(None, why)`` for discriminators audiogan has no twin of (spectral norm, the
        multi-band discriminator).

    Raises:
        ImportSourceError: ``mpd`` / ``mrd`` missing or holding a value that is not a tensor.
    """
    if hparams.get("use_spectral_norm", False):
        return None, "they use spectral norm ('use_spectral_norm': true)"
    if hparams.get("use_mbd_instead_of_mrd", False):
        return None, "the multi-band discriminator ('use_mbd_instead_of_mrd') has no twin here"
    out: dict[str, Tensor] = {}
    cqt = bool(hparams.get("use_cqtd_instead_of_mrd", False))
    for index, part in enumerate(("mpd", "mrd")):
        weights = state.get(part) if isinstance(state, dict) else None
        if not isinstance(weights, dict):
            raise ImportSourceError(f"{where}: no {part!r} state dict in it; give BigVGAN's "
                                    f"{DISCRIMINATOR_FILE} (or a do_ file)")
        for key, value in weights.items():  # the CQT's buffers included: same names here
            if not isinstance(value, Tensor):
                raise ImportSourceError(f"{where}: {part} entry {key!r} is not a tensor")
            out[f"parts.{index}.{_discriminator_key(str(key), cqt and index == 1)}"] = (
                value.float())
    return out, ""
