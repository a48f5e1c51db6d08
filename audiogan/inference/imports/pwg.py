"""ParallelWaveGAN (kan-bayashi) / ESPnet1 vocoder checkpoints -> an audiogan model directory.

Files (the toolkit's naming; ESPnet1 recipes publish the same three):

- ``checkpoint-<N>steps.pkl``: ``torch.save`` of ``{"model": {"generator": state_dict,
  "discriminator": state_dict}, "optimizer": ..., "scheduler": ..., "steps": N, "epochs": E}``
  (a directory source picks the highest ``N``).
- ``config.yml`` beside it (or ``--config``): ``generator_type`` + ``generator_params``, the
  feature settings (``sampling_rate``, ``fft_size``, ``hop_size``, ``win_length``, ``window``,
  ``num_mels``, ``fmin``, ``fmax``), ``format`` (``hdf5`` or ``npy``), ``version`` and, for
  multi-band models, ``pqmf_params``.
- ``stats.h5`` (datasets ``mean``, ``scale``; needs the optional ``h5py``, ``pip install
  audiogan[h5py]``) or ``stats.npy`` (``[mean, scale]``): the z-normalisation of the features;
  the one ``format`` names is preferred, as the toolkit's ``load_model`` does.

Generators: ``ParallelWaveGANGenerator`` (also an absent ``generator_type``, the toolkit's
default) -> ``parallel_wavegan`` (:mod:`audiogan.inference.imports.pwg_wavenet`: the
``ConvInUpsampleNetwork`` conditioning, the gated residual blocks; causal convs, another or no
upsampling network, an activation or a frequency-axis kernel in it are refused);
``HiFiGANGenerator`` -> ``hifigan`` (``input_conv``, ``upsamples.i.1``,
``blocks.{i*K+j}.convs1.d.1`` / ``convs2.d.1``, ``output_conv.1``; leaky ReLU 0.01 before the
output conv, which ``post_negative_slope`` reproduces); ``MelGANGenerator`` -> ``melgan``
(``melgan.<index>``, residual stacks ``stack.2`` / ``stack.4`` / ``skip_layer``, dilations
``stack_kernel_size ** j``) and, with ``out_channels`` > 1, ``multiband_melgan`` with the PQMF of
``pqmf_params`` (taps 62, cutoff 0.142, beta 9.0 by default; cutoff 0.15 when ``version`` is
0.4.2 or older or absent) and the toolkit's unscaled prototype (``pqmf_scaled: false``). Options
audiogan cannot reproduce exactly (causal convs, no bias, another activation or padding) are
refused with one line naming the key. Features: the ``pwg`` profile with the config's values and
the statistics.

Discriminators (:mod:`audiogan.inference.imports.pwg_discriminators`):
``MelGANMultiScaleDiscriminator`` becomes ``melgan_msd``,
``HiFiGANMultiScaleMultiPeriodDiscriminator`` ``combined`` (MPD output conv kernel 2, as the
toolkit's), ``ParallelWaveGANDiscriminator`` (also an absent ``discriminator_type``) and
``ResidualParallelWaveGANDiscriminator`` ``parallel_wavegan`` and ``residual_parallel_wavegan``,
weights included, for ``training.init_from``; options audiogan
does not reproduce and other types leave the weights out with a note.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiogan.core.errors import describe_os_error, one_line
from audiogan.inference.imports import base
from audiogan.inference.imports.base import Converted, Detection, FormatReader, ImportSourceError
from audiogan.inference.imports.melgan_neurips import melgan_layer_map, take_layers
from audiogan.inference.imports.pwg_discriminators import discriminator_converter
from audiogan.inference.imports.pwg_wavenet import (
    convert_parallel_wavegan,
    parallel_wavegan_params,
)
from audiogan.inference.imports.values import (
    as_int,
    config_float,
    config_int,
    config_ints,
    config_optional_float,
)

__all__ = ["ParallelWaveGANReader", "pqmf_design", "pwg_version_le"]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)steps\.pkl$")


def pwg_version_le(version: Any, limit: tuple[int, ...]) -> bool:
    """True when the config's ``version`` (e.g. ``"0.4.1"``) is <= ``limit``; an absent version
    counts as ``0.1.0``, as the toolkit's ``load_model`` reads it."""
    text = "0.1.0" if version is None else str(version)
    parts = tuple(int(p) for p in re.findall(r"\d+", text)[:len(limit)])
    return parts <= limit


def pqmf_design(hparams: dict[str, Any], subbands: int, where: Path) -> dict[str, Any]:
    """``pqmf_taps`` / ``pqmf_cutoff_ratio`` / ``pqmf_beta`` / ``pqmf_scaled`` of a config."""
    design = {"taps": 62, "cutoff_ratio": 0.142, "beta": 9.0}
    if pwg_version_le(hparams.get("version"), (0, 4, 2)):
        design["cutoff_ratio"] = 0.15
    given = hparams.get("pqmf_params")
    if given is not None:
        if not isinstance(given, dict):
            raise ImportSourceError(f"{where}: 'pqmf_params' must be a mapping")
        unknown = sorted(set(given) - {"subbands", "taps", "cutoff_ratio", "beta"})
        if unknown:
            raise ImportSourceError(f"{where}: unknown key 'pqmf_params.{unknown[0]}'")
        if config_int(given, "subbands", where, subbands, section="pqmf_params") != subbands:
            raise ImportSourceError(f"{where}: 'pqmf_params.subbands' differs from "
                                    f"'generator_params.out_channels' ({subbands})")
        design = {"taps": 62, "cutoff_ratio": 0.142, "beta": 9.0,
                  **{k: v for k, v in given.items() if k != "subbands"}}
    return {"pqmf_taps": config_int(design, "taps", where, section="pqmf_params"),
            "pqmf_cutoff_ratio": config_float(design, "cutoff_ratio", where,
                                              section="pqmf_params"),
            "pqmf_beta": config_float(design, "beta", where, section="pqmf_params"),
            "pqmf_scaled": False}


def _read_stats(path: Path) -> tuple[Tensor, Tensor]:
    """(mean, scale) from ``stats.h5`` or ``stats.npy``."""
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except OSError as exc:
            raise ImportSourceError(describe_os_error(exc, path)) from None
        except ValueError as exc:
            raise ImportSourceError(f"{path}: not a plain numpy array ({one_line(exc)[:120]})"
                                    ) from None
        if array.ndim < 2 or array.shape[0] != 2:
            raise ImportSourceError(f"{path}: expected [mean, scale] (shape (2, n_mels)), got "
                                    f"shape {array.shape}")
        mean, scale = array[0].reshape(-1), array[1].reshape(-1)
    else:
        try:
            import h5py
        except ImportError:
            raise ImportSourceError(f"{path}: reading stats.h5 needs h5py (pip install "
                                    "'audiogan[h5py]'), or convert it to stats.npy") from None
        try:
            with h5py.File(path, "r") as f:
                for key in ("mean", "scale"):
                    if key not in f:
                        raise ImportSourceError(f"{path}: no {key!r} dataset in it")
                mean, scale = f["mean"][()].reshape(-1), f["scale"][()].reshape(-1)
        except OSError as exc:
            raise ImportSourceError(f"{path}: not a readable HDF5 file ({one_line(exc)[:120]})"
                                    ) from None
    if mean.shape != scale.shape or not np.isfinite(mean).all() or not (scale > 0).all():
        raise ImportSourceError(f"{path}: 'mean' and 'scale' must have one finite value per mel "
                                "band and scale > 0")
    return torch.from_numpy(np.asarray(mean, np.float32)), torch.from_numpy(
        np.asarray(scale, np.float32))


def _require(params: dict[str, Any], key: str, wanted: Any, where: Path, default: Any) -> None:
    value = params.get(key, default)
    if value != wanted:
        raise ImportSourceError(f"{where}: 'generator_params.{key}' is {value!r}; audiogan "
                                f"reproduces only {wanted!r} exactly")


def _slope(params: dict[str, Any], default: float, where: Path) -> float:
    _require(params, "nonlinear_activation", "LeakyReLU", where, "LeakyReLU")
    given = params.get("nonlinear_activation_params") or {}
    unknown = sorted(set(given) - {"negative_slope"})
    if unknown:
        raise ImportSourceError(f"{where}: 'generator_params.nonlinear_activation_params."
                                f"{unknown[0]}' is not reproduced by audiogan")
    return config_float(given, "negative_slope", where, default,
                        section="generator_params.nonlinear_activation_params")


_GP = "generator_params"  # the section the generator's keys are in, for messages


def _hifigan(params: dict[str, Any], where: Path) -> dict[str, Any]:
    for key, wanted, default in (("out_channels", 1, 1), ("kernel_size", 7, 7),
                                 ("bias", True, True), ("use_causal_conv", False, False)):
        _require(params, key, wanted, where, default)
    rates = config_ints(params, "upsample_scales", where, (8, 8, 2, 2), _GP)
    kernels = config_ints(params, "upsample_kernel_sizes", where, (16, 16, 4, 4), _GP)
    if kernels != [2 * r for r in rates]:
        raise ImportSourceError(f"{where}: 'generator_params.upsample_kernel_sizes' must be twice "
                                "'upsample_scales' (the toolkit asserts it)")
    return {"preset": "v1", "in_channels": config_int(params, "in_channels", where, 80, _GP),
            "upsample_rates": rates, "upsample_kernel_sizes": kernels,
            "upsample_initial_channel": config_int(params, "channels", where, 512, _GP),
            "resblock": "1" if params.get("use_additional_convs", True) else "2",
            "resblock_kernel_sizes": config_ints(params, "resblock_kernel_sizes", where,
                                                 (3, 7, 11), _GP),
            "resblock_dilation_sizes": _dilations(params, where),
            "negative_slope": _slope(params, 0.1, where), "post_negative_slope": 0.01}


def _dilations(params: dict[str, Any], where: Path) -> list[list[int]]:
    blocks = params.get("resblock_dilations", [[1, 3, 5]] * 3)
    if not isinstance(blocks, list) or not all(isinstance(ds, list) for ds in blocks):
        raise ImportSourceError(f"{where}: 'generator_params.resblock_dilations' must be a list "
                                "of lists of integers")
    return [[as_int(d, f"generator_params.resblock_dilations[{i}][{j}]", where)
             for j, d in enumerate(ds)] for i, ds in enumerate(blocks)]


def _hifigan_layers(gen: dict[str, Any]) -> dict[str, str]:
    layers = {"input_conv": "conv_pre", "output_conv.1": "conv_post"}
    blocks = len(gen["resblock_kernel_sizes"])
    for stage in range(len(gen["upsample_rates"])):
        layers[f"upsamples.{stage}.1"] = f"upsamples.{stage}"
        for block, dilations in enumerate(gen["resblock_dilation_sizes"]):
            theirs, ours = f"blocks.{stage * blocks + block}", f"mrfs.{stage}.blocks.{block}.units"
            for unit in range(len(dilations)):
                layers[f"{theirs}.convs1.{unit}.1"] = f"{ours}.{unit}.1"
                if gen["resblock"] == "1":
                    layers[f"{theirs}.convs2.{unit}.1"] = f"{ours}.{unit}.3"
    return layers


def _melgan(params: dict[str, Any], hparams: dict[str, Any], where: Path) -> tuple[str, dict]:
    for key, wanted, default in (("bias", True, True), ("use_causal_conv", False, False),
                                 ("pad", "ReflectionPad1d", "ReflectionPad1d"),
                                 ("use_final_nonlinear_activation", True, True)):
        _require(params, key, wanted, where, default)
    if params.get("pad_params"):
        raise ImportSourceError(f"{where}: 'generator_params.pad_params' is not reproduced by "
                                "audiogan (reflection padding only)")
    stack_kernel = config_int(params, "stack_kernel_size", where, 3, _GP)
    stacks = config_int(params, "stacks", where, 3, _GP)
    gen = {"in_channels": config_int(params, "in_channels", where, 80, _GP),
           "upsample_rates": config_ints(params, "upsample_scales", where, (8, 8, 2, 2), _GP),
           "channels": config_int(params, "channels", where, 512, _GP),
           "kernel_size": config_int(params, "kernel_size", where, 7, _GP),
           "resstack_dilations": [stack_kernel ** j for j in range(stacks)],
           "resstack_kernel_size": stack_kernel, "negative_slope": _slope(params, 0.2, where)}
    subbands = config_int(params, "out_channels", where, 1, _GP)
    if subbands == 1:
        return "melgan", gen
    return "multiband_melgan", {**gen, "subbands": subbands,
                                **pqmf_design(hparams, subbands, where)}


def _features(hparams: dict[str, Any], n_mels: int, where: Path) -> dict[str, Any]:
    def need(key: str) -> Any:
        if key not in hparams:
            raise ImportSourceError(f"{where}: key {key!r} is missing; it is part of every "
                                    "ParallelWaveGAN config")
        return hparams[key]

    if hparams.get("window", "hann") != "hann":
        raise ImportSourceError(f"{where}: 'window' is {hparams['window']!r}; the pwg feature "
                                "profile uses a Hann window")
    if hparams.get("log_base", 10.0) != 10.0:
        raise ImportSourceError(f"{where}: 'log_base' is {hparams['log_base']!r}; the pwg "
                                "feature profile uses log10")
    need("num_mels")
    if config_int(hparams, "num_mels", where) != n_mels:
        raise ImportSourceError(f"{where}: 'num_mels' is {hparams['num_mels']} but the "
                                f"generator takes {n_mels} channels")
    need("fft_size")
    need("hop_size")
    fft = config_int(hparams, "fft_size", where)
    win = config_int(hparams, "win_length", where, None) if hparams.get("win_length") else fft
    return {"profile": "pwg", "n_fft": fft, "hop_length": config_int(hparams, "hop_size", where),
            "win_length": win, "n_mels": n_mels,
            "f_min": config_optional_float(hparams, "fmin", where, None) or 0.0,
            "f_max": config_optional_float(hparams, "fmax", where, None), "stats": True}


def _training(name: str, hparams: dict[str, Any], hop: int,
              discriminator: dict[str, Any], where: Path) -> dict[str, Any]:
    """Training sections in the spirit of the toolkit's recipe for ``name`` (fine-tuning)."""
    segment = config_int(hparams, "batch_max_steps", where, 8192)
    sections: dict[str, Any] = {"training": {
        "batch_size": config_int(hparams, "batch_size", where, 16),
        "segment_length": max(hop, segment // hop * hop)}, "discriminator": discriminator}
    if name == "hifigan":
        sections["loss"] = {"adversarial": "lsgan",
                            "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}}
        sections["optim"] = {part: {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.9]}
                             for part in ("generator", "discriminator")}
    elif name == "parallel_wavegan":  # the checkpoint's own settings; parallel_wavegan.v1's
        sections.update(_pwg_training(hparams, where))
        sections["training"].update(_pwg_clipping(hparams, where))
    else:
        sections["loss"] = {"adversarial": "lsgan", "weights": {"adversarial": 4.0, "stft": 1.0}}
        sections["optim"] = {part: {"name": "adam", "lr": 1e-4, "betas": [0.9, 0.999]}
                             for part in ("generator", "discriminator")}
        if name == "multiband_melgan":
            sections["loss"]["weights"] = {"adversarial": 2.5, "stft": 0.5, "subband_stft": 0.5}
    return sections


_PWG_OPTIMIZERS = {"radam": "radam", "adam": "adam", "adamw": "adamw"}


def _pwg_training(hparams: dict[str, Any], where: Path) -> dict[str, Any]:
    """``loss`` and ``optim`` of a Parallel WaveGAN config: ``lambda_adv``,
    ``stft_loss_params`` and ``{generator,discriminator}_optimizer_{type,params}``, each
    defaulting to ``parallel_wavegan.v1.yaml``'s value (an optimiser type audiogan does not
    offer keeps RAdam)."""
    stft = hparams.get("stft_loss_params") or {}
    if not isinstance(stft, dict):
        raise ImportSourceError(f"{where}: 'stft_loss_params' must be a mapping, got "
                                f"{type(stft).__name__}; fix or remove it")
    loss = {"adversarial": "lsgan",
            "weights": {"adversarial": config_float(hparams, "lambda_adv", where, 4.0),
                        "stft": 1.0},
            "stft": {key: config_ints(stft, key, where, default, section="stft_loss_params")
                     for key, default in (("fft_sizes", [1024, 2048, 512]),
                                          ("hop_sizes", [120, 240, 50]),
                                          ("win_lengths", [600, 1200, 240]))}}
    optim = {}
    for part, lr in (("generator", 1e-4), ("discriminator", 5e-5)):
        section = f"{part}_optimizer_params"
        params = hparams.get(section) or {}
        if not isinstance(params, dict):
            raise ImportSourceError(f"{where}: '{section}' must be a mapping, got "
                                    f"{type(params).__name__}; fix or remove it")
        kind = str(hparams.get(f"{part}_optimizer_type", "RAdam")).lower()
        optim[part] = {"name": _PWG_OPTIMIZERS.get(kind, "radam"),
                       "lr": config_float(params, "lr", where, lr, section=section),
                       "betas": [0.9, 0.999],
                       "eps": config_float(params, "eps", where, 1e-6, section=section),
                       "weight_decay": config_float(params, "weight_decay", where, 0.0,
                                                    section=section)}
    return {"loss": loss, "optim": optim}


def _pwg_clipping(hparams: dict[str, Any], where: Path) -> dict[str, Any]:
    """``generator_grad_norm`` / ``discriminator_grad_norm`` (<= 0: no clipping, as the
    toolkit's trainer reads them) as ``grad_clip`` / ``grad_clip_discriminator`` (None: no
    clipping)."""
    limits = {}
    for ours, theirs, default in (("grad_clip", "generator_grad_norm", 10.0),
                                  ("grad_clip_discriminator", "discriminator_grad_norm", 1.0)):
        value = config_float(hparams, theirs, where, default)
        limits[ours] = value if value > 0 else None
    if limits["grad_clip"] is not None and limits["grad_clip_discriminator"] is None:
        # an unset discriminator limit would mean grad_clip's: a limit no norm reaches instead
        limits["grad_clip_discriminator"] = 1.0e30
    return limits


@base.register
class ParallelWaveGANReader(FormatReader):
    """kan-bayashi/ParallelWaveGAN (and ESPnet1) ``checkpoint-*steps.pkl`` + ``config.yml``."""

    name = "pwg"
    title = "kan-bayashi/ParallelWaveGAN"
    files = ("checkpoint-<N>steps.pkl + config.yml + stats.h5 or stats.npy (Parallel WaveGAN, "
             "HiFiGAN, MelGAN, multi-band MelGAN generators; also ESPnet1 vocoders)")
    sources = (
        base.KnownSource("pwg",
                         "ParallelWaveGAN / ESPnet1 vocoders: Parallel WaveGAN, HiFi-GAN, "
                         "(multi-band) MelGAN (checkpoint-*steps.pkl + config.yml + stats.h5)",
                         "https://github.com/kan-bayashi/ParallelWaveGAN "
                         "(README: pretrained models)",
                         "MIT"),
    )

    def detect(self, path: Path) -> Detection | None:
        """A ``checkpoint-<N>steps.pkl`` file, or a directory holding some (the highest N)."""
        if path.is_dir():
            found = sorted((p for p in path.iterdir()
                            if _CHECKPOINT.match(p.name) and p.is_file()),
                           key=lambda p: base.name_number(_CHECKPOINT, p))
            return self._detection(found[-1]) if found else None
        return self._detection(path) if _CHECKPOINT.match(path.name) else None

    def _detection(self, checkpoint: Path) -> Detection:
        extra = {name: checkpoint.with_name(f"stats.{name}") for name in ("h5", "npy")
                 if checkpoint.with_name(f"stats.{name}").is_file()}
        return self.detection(checkpoint, "config.yml", extra)

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert the generator (and the statistics) of a detected checkpoint."""
        source = detection.checkpoint
        config_path = self.config_path(detection, config_file, "config.yml", "the training config")
        hparams = base.read_yaml(config_path)
        kind = hparams.get("generator_type", "ParallelWaveGANGenerator")  # the toolkit's default
        params = hparams.get("generator_params") or {}
        if not isinstance(params, dict):
            raise ImportSourceError(f"{config_path}: 'generator_params' must be a mapping")
        params = {k.replace("upsample_kernal_sizes", "upsample_kernel_sizes"): v
                  for k, v in params.items()}  # the toolkit's own workaround for its typo
        if kind == "HiFiGANGenerator":
            name, gen = "hifigan", _hifigan(params, config_path)
            layers = _hifigan_layers(gen)
        elif kind == "MelGANGenerator":
            name, gen = _melgan(params, hparams, config_path)
            layers = melgan_layer_map("melgan", len(gen["upsample_rates"]),
                                      len(gen["resstack_dilations"]), "stack", "skip_layer")
        elif kind == "ParallelWaveGANGenerator":
            name, gen = "parallel_wavegan", parallel_wavegan_params(params, config_path)
            layers = {}
        else:
            raise ImportSourceError(f"{config_path}: 'generator_type' {kind!r} is not supported; "
                                    "audiogan imports ParallelWaveGANGenerator, HiFiGANGenerator "
                                    "and MelGANGenerator")
        state = base.safe_torch_load(source)
        model = state.get("model") if isinstance(state, dict) else None
        weights = model.get("generator") if isinstance(model, dict) else None
        if not isinstance(weights, dict):
            raise ImportSourceError(f"{source}: no ['model']['generator'] state dict in it; "
                                    "give a ParallelWaveGAN checkpoint-*steps.pkl")
        weights = dict(weights)
        buffers = {k: weights.pop(k) for k in ("mean", "scale") if k in weights}
        if name == "parallel_wavegan":
            generator = convert_parallel_wavegan(weights, gen, source)
            hop = math.prod(gen["upsample_scales"])
        else:
            generator = take_layers(weights, layers, "generator", source)
            hop = math.prod(gen["upsample_rates"]) * int(gen.get("subbands", 1))
        mean, scale, notes = self._stats(detection, hparams, buffers)
        if config_int(hparams, "hop_size", config_path, hop) != hop:
            raise ImportSourceError(f"{config_path}: 'hop_size' is {hparams['hop_size']}, but "
                                    f"the generator upsamples by {hop}")
        convert = discriminator_converter(name, hparams)
        assert isinstance(model, dict)  # the generator's weights came from it
        disc_config, discriminator, note = convert(hparams, model.get("discriminator"), source,
                                                   config_path)
        notes.append(note)
        if name == "multiband_melgan":
            notes.append(f"PQMF: taps {gen['pqmf_taps']}, cutoff {gen['pqmf_cutoff_ratio']}, beta "
                         f"{gen['pqmf_beta']} (config version {hparams.get('version', 'absent')})")
        config = {"sample_rate": config_int(hparams, "sampling_rate", config_path, 22050),
                  "features": _features(hparams, gen["in_channels"], config_path),
                  "generator": {"name": name, "params": gen},
                  **_training(name, hparams, hop, disc_config, config_path)}
        if "sampling_rate" not in hparams:
            raise ImportSourceError(f"{config_path}: key 'sampling_rate' is missing")
        steps = state.get("steps")
        return Converted(base.build_config(config, config_path), generator, discriminator,
                         mean=mean, scale=scale,
                         step=int(steps) if isinstance(steps, int) else None, notes=notes)

    @staticmethod
    def _stats(detection: Detection, hparams: dict[str, Any], buffers: dict[str, Any]
               ) -> tuple[Tensor, Tensor, list[str]]:
        preferred = "h5" if hparams.get("format", "hdf5") == "hdf5" else "npy"
        order = [preferred] + [e for e in ("h5", "npy") if e != preferred]
        for ext in order:
            if ext in detection.extra:
                mean, scale = _read_stats(detection.extra[ext])
                return mean, scale, [f"feature statistics from {detection.extra[ext].name}"]
        if isinstance(buffers.get("mean"), Tensor) and isinstance(buffers.get("scale"), Tensor):
            return (buffers["mean"].float().reshape(-1), buffers["scale"].float().reshape(-1),
                    ["feature statistics from the generator's registered mean/scale"])
        raise ImportSourceError(
            f"{detection.checkpoint}: no stats.h5 or stats.npy beside it; the generator expects "
            "features z-normalised with its training statistics: put that file beside it")
