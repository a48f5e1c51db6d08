"""Vocos (mel) checkpoints -> audiogan ``istft`` model directories.

Layout read (a Vocos release on the Hugging Face Hub, e.g. ``charactr/vocos-mel-24khz``, or the
same two files written by ``Vocos`` code):

- ``pytorch_model.bin``: the plain state dict of ``vocos.Vocos`` (no outer container), keys

  ===========================================  ===========================================
  Vocos key                                     audiogan ``istft`` key
  ===========================================  ===========================================
  ``backbone.embed.{weight,bias}``              ``embed.*`` (Conv1d, kernel 7, padding 3)
  ``backbone.norm.{weight,bias}``               ``norm.*`` (LayerNorm, eps 1e-6)
  ``backbone.convnext.{i}.dwconv.*``            ``blocks.{i}.dwconv.*`` (depthwise, kernel 7)
  ``backbone.convnext.{i}.norm.*``              ``blocks.{i}.norm.*``
  ``backbone.convnext.{i}.pwconv{1,2}.*``       ``blocks.{i}.pwconv{1,2}.*``
  ``backbone.convnext.{i}.gamma``               ``blocks.{i}.gamma`` (ones when the source
                                                has no layer scale)
  ``backbone.final_layer_norm.*``               ``final_norm.*``
  ``head.out.{weight,bias}``                    ``head.*`` (Linear(dim, n_fft + 2): log-magnitude
                                                then phase)
  ``head.istft.window``                         checked: the periodic hann window
  ``feature_extractor.mel_spec.*``              not used (torchaudio's window and mel filter
                                                bank buffers; audiogan computes its own)
  ===========================================  ===========================================

- ``config.yaml`` beside it (the toolkit's name), three ``class_path``/``init_args`` sections:
  ``feature_extractor`` (``vocos.feature_extractors.MelSpectrogramFeatures``: ``sample_rate``,
  ``n_fft``, ``hop_length``, ``n_mels``, ``padding``), ``backbone``
  (``vocos.models.VocosBackbone``: ``input_channels``, ``dim``, ``intermediate_dim``,
  ``num_layers``, ``layer_scale_init_value``, ``adanorm_num_embeddings``) and ``head``
  (``vocos.heads.ISTFTHead``: ``dim``, ``n_fft``, ``hop_length``, ``padding``). Absent
  ``init_args`` take the Vocos classes' defaults.

Refused with one line: the EnCodec-feature variant (``EncodecFeatures`` with an AdaLayerNorm
backbone: it takes EnCodec codes, not a mel), other backbones (``VocosResNetBackbone``) and heads
(the IMDCT heads), and a ``padding: same`` feature extractor (audiogan's ``vocos`` features are
centred).

Features: the ``vocos`` profile (torchaudio-style centred STFT with reflect padding, power-1
magnitude, HTK mel filters without normalisation over 0 .. sample_rate / 2, natural log floored at
1e-7) with the config's sample rate, ``n_fft``, hop and ``n_mels``; ``win_length = n_fft``.

Output length: Vocos' ``padding: center`` head is ``torch.istft(center=True)`` without a length,
so T mel frames give ``(T - 1) * hop`` samples. The imported generator (``padding: center``)
returns ``T * hop``: its first ``(T - 1) * hop`` samples are Vocos' samples (the same frames
overlap-added and normalised by the same window envelope), and the last ``hop`` samples are the
tail of the final frames, which Vocos drops. With Vocos' centred features an input of N samples
has ``T = N // hop + 1`` frames, so Vocos returns ``hop * (N // hop)`` samples and audiogan
``hop * (N // hop + 1)``. A ``padding: same`` head gives ``T * hop`` samples in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from audiogan.inference.imports import base
from audiogan.inference.imports.base import Converted, Detection, FormatReader, ImportSourceError

__all__ = ["VocosReader", "convert_vocos", "read_yaml", "vocos_config"]

WEIGHTS_FILE = "pytorch_model.bin"
CONFIG_FILE = "config.yaml"
_MEL = "vocos.feature_extractors.MelSpectrogramFeatures"
_ENCODEC = "vocos.feature_extractors.EncodecFeatures"
_BACKBONE = "vocos.models.VocosBackbone"
_HEAD = "vocos.heads.ISTFTHead"
_SECTIONS = ("feature_extractor", "backbone", "head")
_MAX_MAGNITUDE = 1e2  # ISTFTHead clips exp(log-magnitude) at 1e2
_KERNEL = 7  # VocosBackbone's embed and ConvNeXtBlock's dwconv are hard-coded to 7, padding 3
_MAX_CONFIG_BYTES = 1 << 20  # detection reads a config.yaml only up to this size


read_yaml = base.read_yaml  # kept importable from here


def _is_vocos_config(path: Path) -> bool:
    """True when ``path`` is a YAML file with Vocos' three class_path sections (never raises;
    reads at most a small regular file)."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
            return False
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    sections = [data.get(name) for name in _SECTIONS]
    return all(isinstance(s, dict) and str(s.get("class_path", "")).startswith("vocos.")
               for s in sections)


@base.register
class VocosReader(FormatReader):
    """Vocos mel vocoders (``pytorch_model.bin`` + ``config.yaml``) -> ``istft`` + ``vocos``
    features."""

    name = "vocos"
    title = "Vocos"
    files = (f"{WEIGHTS_FILE} + {CONFIG_FILE} (MelSpectrogramFeatures + VocosBackbone + "
             "ISTFTHead; a directory holding both)")
    sources = (
        base.KnownSource("vocos", "Vocos mel 24 kHz (pytorch_model.bin + config.yaml)",
                         "https://huggingface.co/charactr/vocos-mel-24khz", "MIT"),
    )

    def detect(self, path: Path) -> Detection | None:
        """A directory holding ``pytorch_model.bin`` + a Vocos ``config.yaml``, or such a weights
        file (any file beside a Vocos ``config.yaml``, or a ``pytorch_model.bin`` with no config
        beside it, whose ``config.yaml`` is then given with ``--config``)."""
        if path.is_dir():
            weights = path / WEIGHTS_FILE
            if not weights.is_file() or not _is_vocos_config(path / CONFIG_FILE):
                return None
            return self._detection(weights)
        if not path.is_file():
            return None
        config = path.with_name(CONFIG_FILE)
        if config.is_file():
            return self._detection(path) if _is_vocos_config(config) else None
        # a lone pytorch_model.bin (config.yaml elsewhere, --config); not one of a transformers
        # snapshot, which has a config.json beside it
        lone = path.name == WEIGHTS_FILE and not path.with_name("config.json").exists()
        return self._detection(path) if lone else None

    def _detection(self, weights: Path) -> Detection:
        return self.detection(weights, CONFIG_FILE)

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert a detected Vocos mel checkpoint."""
        source = detection.checkpoint
        config_path = self.config_path(detection, config_file, CONFIG_FILE, "Vocos' config.yaml")
        hparams = read_yaml(config_path)
        config_map, notes = vocos_config(hparams, config_path)
        state = base.safe_torch_load(source)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise ImportSourceError(f"{source}: expected a state dict (name -> tensor), found "
                                    f"{type(state).__name__}; give Vocos' pytorch_model.bin")
        params = config_map["generator"]["params"]
        generator = convert_vocos(state, params["num_layers"], params["n_fft"], source)
        config = base.build_config(config_map, config_path)
        if params["padding"] == "center":
            notes.append("output length: Vocos returns (frames - 1) * hop samples, audiogan "
                         "frames * hop; the first (frames - 1) * hop are the same samples")
        return Converted(config, generator, notes=notes)


def _section(hparams: dict[str, Any], name: str, where: Path) -> tuple[str, dict[str, Any]]:
    section = hparams.get(name)
    if not isinstance(section, dict) or "class_path" not in section:
        raise ImportSourceError(f"{where}: key {name!r} (with class_path/init_args) is missing; "
                                "it is part of every Vocos config.yaml")
    args = section.get("init_args") or {}
    if not isinstance(args, dict):
        raise ImportSourceError(f"{where}: key '{name}.init_args' must be a mapping")
    return str(section["class_path"]), args


def _int(args: dict[str, Any], section: str, key: str, where: Path,
         default: int | None = None) -> int:
    value = args.get(key, default)
    if value is None:
        raise ImportSourceError(f"{where}: key '{section}.init_args.{key}' is missing; Vocos' "
                                "class needs it")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ImportSourceError(f"{where}: key '{section}.init_args.{key}' must be a positive "
                                f"integer, got {value!r}")
    return value


def _padding(args: dict[str, Any], section: str, where: Path, default: str) -> str:
    padding = args.get("padding", default)
    if padding not in ("center", "same"):
        raise ImportSourceError(f"{where}: key '{section}.init_args.padding' is {padding!r}; "
                                "Vocos has 'center' or 'same'")
    return str(padding)


def vocos_config(hparams: dict[str, Any], where: Path) -> tuple[dict[str, Any], list[str]]:
    """The audiogan config (as a mapping) of a Vocos ``config.yaml``, and notes.

    Raises:
        ImportSourceError: the EnCodec variant, another backbone or head, a ``same``-padded
            feature extractor, or sizes that do not fit (naming the key).
    """
    features_class, features = _section(hparams, "feature_extractor", where)
    backbone_class, backbone = _section(hparams, "backbone", where)
    head_class, head = _section(hparams, "head", where)
    if features_class == _ENCODEC or backbone.get("adanorm_num_embeddings") is not None:
        raise ImportSourceError(
            f"{where}: an EnCodec-feature Vocos (feature_extractor {features_class.rsplit('.')[-1]}"
            ", AdaLayerNorm backbone) decodes EnCodec codes, not a mel spectrogram; audiogan's "
            "vocoders take mels: import a mel Vocos (e.g. charactr/vocos-mel-24khz)")
    for key, found, wanted in (("feature_extractor", features_class, _MEL),
                               ("backbone", backbone_class, _BACKBONE),
                               ("head", head_class, _HEAD)):
        if found != wanted:
            raise ImportSourceError(f"{where}: key '{key}.class_path' is {found!r}; audiogan "
                                    f"imports Vocos with {wanted.rsplit('.')[-1]} only")
    if _padding(features, "feature_extractor", where, "center") != "center":
        raise ImportSourceError(
            f"{where}: key 'feature_extractor.init_args.padding' is 'same'; audiogan's vocos "
            "features are centred (padding: center), so its mels would be shifted by half a hop")
    sample_rate = _int(features, "feature_extractor", "sample_rate", where, 24000)
    n_fft = _int(features, "feature_extractor", "n_fft", where, 1024)
    hop = _int(features, "feature_extractor", "hop_length", where, 256)
    n_mels = _int(features, "feature_extractor", "n_mels", where, 100)
    dim = _int(backbone, "backbone", "dim", where)
    if _int(backbone, "backbone", "input_channels", where) != n_mels:
        raise ImportSourceError(f"{where}: key 'backbone.init_args.input_channels' is "
                                f"{backbone['input_channels']}, the features have n_mels "
                                f"{n_mels}; check the config file")
    if _int(head, "head", "dim", where) != dim:
        raise ImportSourceError(f"{where}: key 'head.init_args.dim' is {head['dim']}, the "
                                f"backbone's dim is {dim}; check the config file")
    head_hop = _int(head, "head", "hop_length", where)
    if head_hop != hop:
        raise ImportSourceError(f"{where}: key 'head.init_args.hop_length' is {head_hop}, the "
                                f"features' hop_length is {hop}; one mel frame must be one hop")
    head_fft = _int(head, "head", "n_fft", where)
    head_padding = _padding(head, "head", where, "same")
    if head_padding == "center" and hop > head_fft // 2:
        raise ImportSourceError(f"{where}: key 'head.init_args.padding' is 'center' with hop "
                                f"{hop} > n_fft / 2 ({head_fft}); audiogan's centred inverse STFT "
                                "needs hop <= n_fft / 2")
    if head_padding == "same" and (head_fft - hop) % 2:
        raise ImportSourceError(f"{where}: key 'head.init_args.n_fft' is {head_fft} with hop "
                                f"{hop}: Vocos' 'same' padding of an odd n_fft - hop changes the "
                                "output length; audiogan does not reproduce it")
    num_layers = _int(backbone, "backbone", "num_layers", where)
    layer_scale = backbone.get("layer_scale_init_value") or 1.0 / num_layers
    notes: list[str] = []
    if isinstance(layer_scale, (int, float)) and layer_scale < 0:
        notes.append("the backbone has no layer scale (layer_scale_init_value < 0): gamma = 1")
        layer_scale = 1.0
    config = {
        "sample_rate": sample_rate,
        "features": {"profile": "vocos", "n_fft": n_fft, "hop_length": hop,
                     "win_length": n_fft, "n_mels": n_mels, "f_min": 0.0, "f_max": None},
        "generator": {"name": "istft", "params": {
            "preset": "base", "dim": dim,
            "intermediate_dim": _int(backbone, "backbone", "intermediate_dim", where),
            "num_layers": num_layers, "n_fft": head_fft, "hop_length": hop,
            "win_length": head_fft, "padding": head_padding, "kernel_size": _KERNEL,
            "layer_scale_init": float(layer_scale), "max_magnitude": _MAX_MAGNITUDE}},
        # Vocos' training: MPD + multi-resolution STFT discriminator, hinge loss (the weights
        # are not in a release: fine-tuning starts them afresh).
        "discriminator": {"name": "combined", "params": {
            "periods": [2, 3, 5, 7, 11], "scales": 0,
            "resolutions": [[2048, 512, 2048], [1024, 256, 1024], [512, 128, 512]]}},
        "loss": {"adversarial": "hinge",
                 "weights": {"adversarial": 1.0, "feature_matching": 1.0, "mel": 45.0},
                 "mel": {"f_max": None}},
        "optim": {part: {"name": "adamw", "lr": 5.0e-4, "betas": [0.8, 0.9],
                         "weight_decay": 0.01} for part in ("generator", "discriminator")},
        "training": {"segment_length": max(hop, 16384 // hop * hop)},
    }
    return config, notes


def _tensor(state: dict[str, Any], key: str, where: Path) -> Tensor:
    value = state.get(key)
    if not isinstance(value, Tensor):
        raise ImportSourceError(f"{where}: key {key!r} is missing or not a tensor; the "
                                "checkpoint does not match its config")
    return value.float()


def convert_vocos(state: dict[str, Any], num_layers: int, n_fft: int,
                  where: Path) -> dict[str, Tensor]:
    """Vocos' state dict -> folded audiogan ``istft`` generator weights.

    Args:
        state: the ``pytorch_model.bin`` state dict.
        num_layers: ConvNeXt blocks of the config.
        n_fft: the head's FFT size (its window is checked).
        where: the weights file, for messages.

    Raises:
        ImportSourceError: a missing or unexpected key (named), or a head window that is not
            the periodic hann window.
    """
    layers = {"backbone.embed": "embed", "backbone.norm": "norm",
              "backbone.final_layer_norm": "final_norm", "head.out": "head"}
    for index in range(num_layers):
        for part in ("dwconv", "norm", "pwconv1", "pwconv2"):
            layers[f"backbone.convnext.{index}.{part}"] = f"blocks.{index}.{part}"
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    for theirs, ours in layers.items():
        for name in ("weight", "bias"):
            out[f"{ours}.{name}"] = _tensor(state, f"{theirs}.{name}", where)
            used.add(f"{theirs}.{name}")
    for index in range(num_layers):
        key = f"backbone.convnext.{index}.gamma"
        if key in state:
            out[f"blocks.{index}.gamma"] = _tensor(state, key, where)
            used.add(key)
        else:  # layer_scale_init_value <= 0: no gamma in Vocos, identity scale here
            out[f"blocks.{index}.gamma"] = torch.ones_like(out[f"blocks.{index}.norm.weight"])
    if "head.istft.window" in state:
        window = _tensor(state, "head.istft.window", where)
        if window.shape != (n_fft,) or not torch.allclose(
                window, torch.hann_window(n_fft), atol=1e-6):
            raise ImportSourceError(f"{where}: key 'head.istft.window' is not the periodic hann "
                                    f"window of n_fft {n_fft} that Vocos' ISTFTHead builds")
        used.add("head.istft.window")
    used.update(k for k in state if k.startswith("feature_extractor.mel_spec."))
    unknown = sorted(set(state) - used)
    if unknown:
        hint = ("an EnCodec-feature Vocos is not importable" if "encodec" in unknown[0]
                or ".scale." in unknown[0] or ".shift." in unknown[0]
                else "check the config file (num_layers?)")
        raise ImportSourceError(f"{where}: unexpected key {unknown[0]!r}; {hint}")
    return out
