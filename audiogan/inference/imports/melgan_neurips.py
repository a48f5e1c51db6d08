"""descriptinc/melgan-neurips checkpoints -> an audiogan ``melgan`` model directory.

Files (the reference's naming):

- ``mel2wav/models/linda_johnson.pt``, ``multi_speaker.pt``: bare generator state dicts of
  ``Generator(80, 32, 3)``, no config beside them.
- a training directory (``train.py --save_path``): ``netG.pt`` (or ``best_netG.pt``), ``netD.pt``,
  optimiser states and ``args.yml`` - the argparse namespace dumped by PyYAML with the tag
  ``!!python/object:argparse.Namespace``. It is read with a safe loader that accepts that one tag
  (as a plain mapping) and nothing else that safe YAML would refuse.

Layout of ``Generator(input_size, ngf, n_residual_layers)``: ``model`` is one ``nn.Sequential``:
``0`` reflection pad 3, ``1`` conv 7 (``input_size -> 16 ngf``); per stage ``r`` of (8, 8, 2, 2):
leaky ReLU 0.2, a transposed conv (kernel ``2r``, stride ``r``, padding ``r//2 + r%2``, output
padding ``r%2``) halving the channels, then ``n_residual_layers`` ``ResnetBlock`` s (dilation
``3**j``: ``block.1`` reflection pad, ``block.2`` conv 3, ``block.4`` conv 1, ``shortcut`` conv 1);
then leaky ReLU, reflection pad 3, conv 7 to one channel, tanh. Every conv carries old-style weight
norm (``weight_g``/``weight_v``). That is audiogan's ``melgan`` generator layer for layer (same
module indices), so the import is a renaming; the architecture is read from the weights
(``args.yml``, when present, is checked against them). Features: the ``melgan`` profile
(``Audio2Mel``: reflect pad ``(n_fft - hop) / 2``, ``center=False``, ``|X|``, Slaney mel,
``log10(clamp(x, 1e-5))``).

The discriminator (``netD.pt`` beside ``netG.pt``, ``Discriminator(num_D, ndf, n_layers_D,
downsamp_factor)`` from ``args.yml``: ``model.disc_{i}.model.layer_{j}`` convs) becomes
audiogan's ``melgan_msd`` (:mod:`audiogan.models.melgan_discriminator`, the same layers), for
fine-tuning with ``training.init_from``; the optimiser states are not imported.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor

from audiogan.core.errors import describe_os_error, one_line
from audiogan.inference.imports import base
from audiogan.inference.imports.base import Converted, Detection, FormatReader, ImportSourceError
from audiogan.inference.imports.values import config_int

__all__ = ["MelGANNeuripsReader", "convert_melgan_discriminator", "melgan_layer_map",
           "read_args_yml", "take_layers"]

_RELEASED = ("linda_johnson.pt", "multi_speaker.pt")
_GENERATOR_FILES = ("netG.pt", "best_netG.pt")
_RATES = (8, 8, 2, 2)
_NAMESPACE_TAG = "tag:yaml.org,2002:python/object:argparse.Namespace"


class _ArgsLoader(yaml.SafeLoader):
    """SafeLoader plus exactly one tag: ``!!python/object:argparse.Namespace`` -> a dict."""


def _namespace(loader: yaml.SafeLoader, node: yaml.Node) -> dict[Hashable, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, "argparse.Namespace must be a "
                                                "mapping", node.start_mark)
    return loader.construct_mapping(node, deep=True)


_ArgsLoader.add_constructor(_NAMESPACE_TAG, _namespace)


def read_args_yml(path: Path) -> dict[str, Any]:
    """The training arguments of a melgan-neurips ``args.yml`` (safe: one extra tag only).

    Raises:
        ImportSourceError: unreadable, not YAML, another python tag, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportSourceError(describe_os_error(exc, path)) from None
    except UnicodeDecodeError:
        raise ImportSourceError(f"{path}: not a text file; expected melgan-neurips' args.yml"
                                ) from None
    try:
        data = yaml.load(text, Loader=_ArgsLoader)  # SafeLoader + the one Namespace tag
    except yaml.YAMLError as exc:
        raise ImportSourceError(f"{path}: not readable as melgan-neurips' args.yml (only plain "
                                f"YAML and the argparse.Namespace tag are accepted): "
                                f"{one_line(exc)[:160]}") from None
    if not isinstance(data, dict):
        raise ImportSourceError(f"{path}: expected the argparse namespace (a mapping) at the top")
    return data


def take_layers(weights: dict[str, Any], layers: dict[str, str], what: str,
                where: Path) -> dict[str, Tensor]:
    """Rename ``{their_layer: our_layer}`` into our folded ``weight``/``bias`` keys; old-style
    weight norm (``weight_g``/``weight_v``) is folded. Every key of ``weights`` must be used.

    Raises:
        ImportSourceError: a key missing or left over, naming it.
    """
    def tensor(key: str) -> Tensor:
        value = weights.get(key)
        if not isinstance(value, Tensor):
            raise ImportSourceError(f"{where}: {what} key {key!r} is missing or not a tensor; "
                                    "the checkpoint does not match its config")
        return value.float()

    out: dict[str, Tensor] = {}
    used: set[str] = set()
    for theirs, ours in layers.items():
        if f"{theirs}.weight_g" in weights or f"{theirs}.weight_v" in weights:
            weight = base.fold_weight_norm(tensor(f"{theirs}.weight_g"),
                                           tensor(f"{theirs}.weight_v"))
            used.update((f"{theirs}.weight_g", f"{theirs}.weight_v"))
        else:
            weight = tensor(f"{theirs}.weight")
            used.add(f"{theirs}.weight")
        out[f"{ours}.weight"] = weight
        out[f"{ours}.bias"] = tensor(f"{theirs}.bias")
        used.add(f"{theirs}.bias")
    unknown = sorted(set(weights) - used)
    if unknown:
        raise ImportSourceError(f"{where}: unexpected {what} key {unknown[0]!r} for the "
                                "architecture its config describes; check the config")
    return out


def melgan_layer_map(prefix: str, stages: int, stacks: int, stack: str,
                     shortcut: str) -> dict[str, str]:
    """``{their_layer: our_layer}`` for a MelGAN body whose ``nn.Sequential`` (``prefix``) has
    audiogan's ``body.layers`` indices: pad, conv; per stage act, transposed conv, ``stacks``
    residual units (``<stack>.2`` dilated conv, ``<stack>.4`` 1x1 conv, ``<shortcut>``); act,
    pad, conv."""
    layers = {f"{prefix}.1": "body.layers.1"}
    index = 2
    for _ in range(stages):
        layers[f"{prefix}.{index + 1}"] = f"body.layers.{index + 1}"
        for unit in range(index + 2, index + 2 + stacks):
            for theirs, ours in ((f"{stack}.2", "block.2"), (f"{stack}.4", "block.4"),
                                 (shortcut, "shortcut")):
                layers[f"{prefix}.{unit}.{theirs}"] = f"body.layers.{unit}.{ours}"
        index += 2 + stacks
    layers[f"{prefix}.{index + 2}"] = f"body.layers.{index + 2}"
    return layers


def convert_melgan_discriminator(state: Any, scales: int, layers: int, scale_prefix: str,
                                 layer_prefix: str, where: Path) -> dict[str, Tensor]:
    """A MelGAN multi-scale discriminator's weight-normed state dict -> ``melgan_msd``'s.

    ``scale_prefix.format(i=scale)`` names a scale's module; ``layer_prefix.format(j=layer)``
    its ``layers + 3`` convs for ``layers`` downsampling ones (the first in a Sequential after
    the pad: ``<layer>.1``; the downsampling and kernel-``k0`` ones ``<layer>.0``; the output
    conv bare), e.g. ParallelWaveGAN ``discriminators.{i}`` / ``layers.{j}``,
    melgan-neurips ``model.disc_{i}`` / ``model.layer_{j}``.

    Raises:
        ImportSourceError: not a state dict, a key missing (named) or left over.
    """
    if not isinstance(state, dict):
        raise ImportSourceError(f"{where}: not a discriminator state dict")
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    for scale in range(scales):
        theirs_scale = scale_prefix.format(i=scale)
        for layer in range(layers + 3):
            suffix = ".1" if layer == 0 else "" if layer == layers + 2 else ".0"
            theirs = f"{theirs_scale}.{layer_prefix.format(j=layer)}{suffix}"
            ours = f"discriminators.{scale}." + (
                "post" if layer == layers + 2 else f"convs.{layer}")
            for their_key, our_key in (("weight_g", "parametrizations.weight.original0"),
                                       ("weight_v", "parametrizations.weight.original1"),
                                       ("bias", "bias")):
                value = state.get(f"{theirs}.{their_key}")
                if not isinstance(value, Tensor):
                    raise ImportSourceError(f"{where}: discriminator key '{theirs}.{their_key}' "
                                            "is missing (weight-normed convs expected)")
                out[f"{ours}.{our_key}"] = value.float()
                used.add(f"{theirs}.{their_key}")
    unknown = sorted(set(state) - used)
    if unknown:
        raise ImportSourceError(f"{where}: unexpected discriminator key {unknown[0]!r}")
    return out


def _shape(weights: dict[str, Any], where: Path) -> tuple[int, int, int]:
    """(input_size, ngf, n_residual_layers) read from the generator's weights."""
    first = weights.get("model.1.weight_v", weights.get("model.1.weight"))
    if not isinstance(first, Tensor) or first.dim() != 3:
        keys = sorted(weights)[:3]
        raise ImportSourceError(f"{where}: no 'model.1.weight_v' (the input conv) in it (holds "
                                f"{keys}); give a melgan-neurips generator state dict")
    channels, input_size = int(first.shape[0]), int(first.shape[1])
    if channels % 16:
        raise ImportSourceError(f"{where}: 'model.1' has {channels} output channels, not 16 x "
                                "ngf; not a melgan-neurips Generator")
    stacks = 0
    while any(k.startswith(f"model.{4 + stacks}.shortcut.") for k in weights):
        stacks += 1
    if stacks == 0:
        raise ImportSourceError(f"{where}: no residual block 'model.4.shortcut' in it; not a "
                                "melgan-neurips Generator")
    return input_size, channels // 16, stacks


@base.register
class MelGANNeuripsReader(FormatReader):
    """descriptinc/melgan-neurips generator state dicts (released ``.pt`` or ``netG.pt`` +
    ``args.yml``)."""

    name = "melgan"
    title = "descriptinc/melgan-neurips"
    files = ("linda_johnson.pt / multi_speaker.pt, or a training directory: netG.pt "
             "(best_netG.pt) + args.yml [+ netD.pt discriminator]")
    sources = (
        base.KnownSource("melgan", "MelGAN linda_johnson.pt (LJSpeech) and multi_speaker.pt "
                         "(Generator(80, 32, 3) state dicts)",
                         "https://github.com/descriptinc/melgan-neurips (mel2wav/models/)", "MIT"),
    )

    def detect(self, path: Path) -> Detection | None:
        """A released ``linda_johnson.pt`` / ``multi_speaker.pt``, a ``netG.pt`` /
        ``best_netG.pt`` with ``args.yml`` beside it, or a directory holding one of those."""
        if path.is_dir():
            for name in (*_GENERATOR_FILES, *_RELEASED):
                if (path / name).is_file() and (
                        name in _RELEASED or (path / "args.yml").is_file()):
                    return self._detection(path / name)
            return None
        if path.name in _RELEASED or (path.name in _GENERATOR_FILES
                                      and path.with_name("args.yml").is_file()):
            return self._detection(path)
        return None

    def _detection(self, checkpoint: Path) -> Detection:
        has_args = checkpoint.with_name("args.yml").is_file()
        extra: dict[str, Path] = {}
        discriminator = checkpoint.with_name(checkpoint.name.replace("netG", "netD"))
        if has_args and "netG" in checkpoint.name and discriminator.is_file():
            extra["discriminator"] = discriminator
        what = "generator" if has_args else "generator (Generator(80, 32, 3), no config)"
        return self.detection(checkpoint, "args.yml", extra, what)

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert the generator; the architecture comes from its weights."""
        source = detection.checkpoint
        state = base.safe_torch_load(source)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise ImportSourceError(f"{source}: not a state dict; give a melgan-neurips "
                                    "Generator's saved state_dict")
        input_size, ngf, stacks = _shape(state, source)
        notes: list[str] = []
        args_path = config_file or detection.config_file
        args: dict[str, Any] = {}
        if args_path is not None:
            args = read_args_yml(args_path)
            for key, found in (("n_mel_channels", input_size), ("ngf", ngf),
                               ("n_residual_layers", stacks)):
                if key in args and args[key] != found:
                    raise ImportSourceError(f"{args_path}: {key!r} is {args[key]!r} but the "
                                            f"weights of {source.name} have {found}")
        else:
            notes.append(f"no args.yml: architecture read from the weights (Generator("
                         f"{input_size}, {ngf}, {stacks})), features: melgan-neurips defaults "
                         "(22.05 kHz, n_fft 1024, hop 256, f_min 0, f_max none)")
        layers = melgan_layer_map("model", len(_RATES), stacks, "block", "shortcut")
        generator = take_layers(state, layers, "generator", source)
        named = args_path or source  # args.yml, for its values' messages
        disc_params: dict[str, Any] = {
            "scales": config_int(args, "num_D", named, 3),
            "channels": config_int(args, "ndf", named, 16),
            "downsample_scales": [config_int(args, "downsamp_factor", named, 4)] * config_int(
                args, "n_layers_D", named, 4),
            "max_channels": 1024, "kernel_sizes": [5, 3], "negative_slope": 0.2}
        discriminator = None
        if "discriminator" in detection.extra:
            path = detection.extra["discriminator"]
            discriminator = convert_melgan_discriminator(
                base.safe_torch_load(path), disc_params["scales"],
                len(disc_params["downsample_scales"]), "model.disc_{i}", "model.layer_{j}", path)
            notes.append(f"discriminator imported from {path.name} (optimiser states are not)")
        else:
            notes.append("no netD.pt beside it: training.init_from starts a new discriminator")
        segment = config_int(args, "seq_len", named, 8192)
        hop = math.prod(_RATES)
        config = {
            "sample_rate": 22050,
            "features": {"profile": "melgan", "n_fft": 1024, "hop_length": hop,
                         "win_length": 1024, "n_mels": input_size, "f_min": 0.0, "f_max": None},
            "generator": {"name": "melgan", "params": {
                "in_channels": input_size, "upsample_rates": list(_RATES),
                "channels": 16 * ngf, "kernel_size": 7,
                "resstack_dilations": [3 ** j for j in range(stacks)],
                "resstack_kernel_size": 3, "negative_slope": 0.2}},
            "discriminator": {"name": "melgan_msd", "params": disc_params},
            "loss": {"adversarial": "hinge",
                     "weights": {"adversarial": 1.0, "feature_matching": 2.667}},
            "optim": {part: {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9],
                             "weight_decay": 0.0} for part in ("generator", "discriminator")},
            "scheduler": {"name": "none"},
            "training": {"batch_size": config_int(args, "batch_size", named, 16),
                         "segment_length": max(hop, segment // hop * hop)},
        }
        where = args_path or source
        return Converted(base.build_config(config, where), generator, discriminator, notes=notes)

