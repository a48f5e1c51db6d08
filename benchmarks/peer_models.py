"""The model pairs of ``peers.py``: which peers import, our generators and the peers' with the
same shapes (random weights; BigVGAN and Parallel WaveGAN: ours carries the package model's
weights), ready for inference, and their mel input."""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Callable
from typing import Any

import bench_common as bc
import torch
import torch.nn.functional as F
from torch import Tensor, nn

SAMPLE_RATE = 22050
HOP = 256
N_MELS = 80

#: model key -> (pair, side, peer package or None)
MODELS: dict[str, tuple[str, str, str | None]] = {
    "ours_hifigan_v1": ("hifigan", "ours", None),
    "ours_hifigan_v1_cpu": ("hifigan", "ours", None),
    "pwg_hifigan_v1": ("hifigan", "peer", "parallel_wavegan"),
    "ours_istft_base": ("istft", "ours", None),
    "vocos_mel": ("istft", "peer", "vocos"),
    "ours_bigvgan_base": ("bigvgan", "ours", None),
    "bigvgan_base": ("bigvgan", "peer", "bigvgan"),
    "ours_bigvgan_v2": ("bigvgan_v2", "ours", None),
    "bigvgan_v2": ("bigvgan_v2", "peer", "bigvgan"),
    "ours_pwg_v1": ("pwg", "ours", None),
    "pwg_pwg_v1": ("pwg", "peer", "parallel_wavegan"),
    "ours_melgan": ("melgan", "ours", None),
    "ours_melgan_cpu": ("melgan", "ours", None),
    "pwg_melgan": ("melgan", "peer", "parallel_wavegan"),
    "ours_mb_melgan": ("mb_melgan", "ours", None),
    "ours_mb_melgan_cpu": ("mb_melgan", "ours", None),
    "pwg_mb_melgan": ("mb_melgan", "peer", "parallel_wavegan"),
    "ours_istft_base_cpu": ("istft", "ours", None),
}

#: keys run on the path ``Vocoder.load`` gives them on the device (:func:`policy_path`).
POLICY_KEYS = ("ours_hifigan_v1_cpu", "ours_melgan_cpu", "ours_mb_melgan_cpu",
               "ours_istft_base_cpu")

#: MelGAN pair -> ParallelWaveGAN ``MelGANGenerator`` params (the package's
#: ``melgan.v1`` / ``multi_band_melgan.v2`` shapes = our presets' defaults); ``tiny`` changes
#: only the channels, to the least the package allows (the product of the scales).
MELGAN_PAIRS: dict[str, dict[str, Any]] = {
    "melgan": {"out_channels": 1, "channels": 512, "upsample_scales": [8, 8, 2, 2],
               "stacks": 3},
    "mb_melgan": {"out_channels": 4, "channels": 384, "upsample_scales": [8, 4, 2],
                  "stacks": 4},
}

#: BigVGAN pair -> (preset, channels after the input conv with ``tiny``).
BIGVGAN_PAIRS: dict[str, tuple[str, int]] = {
    "bigvgan": ("base_22khz_80band", 32),
    "bigvgan_v2": ("22khz_80band_256x", 64),
}


# --------------------------------------------------------------------------- peers


def peer_status() -> dict[str, str | None]:
    """``{package: None}`` when importable, else ``{package: "why not"}``."""
    status: dict[str, str | None] = {}
    for package in ("parallel_wavegan", "vocos", "bigvgan"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                __import__(package)
            status[package] = None
        except Exception as exc:
            status[package] = f"{type(exc).__name__}: {exc}"
    return status


def _hifigan_shape(tiny: bool) -> dict[str, Any]:
    return {"channels": 16 if tiny else 512, "upsample_scales": (8, 8, 2, 2),
            "upsample_kernel_sizes": (16, 16, 4, 4), "resblock_kernel_sizes": (3, 7, 11),
            "resblock_dilations": [(1, 3, 5)] * 3}


def _istft_shape(tiny: bool) -> dict[str, int]:
    if tiny:
        return {"dim": 32, "intermediate_dim": 64, "num_layers": 2}
    return {"dim": 512, "intermediate_dim": 1536, "num_layers": 8}


def _bigvgan_hparams(pair: str, tiny: bool) -> dict[str, Any]:
    """The generator part of a BigVGAN ``config.json`` for ``pair`` (our preset's shape)."""
    from dataclasses import asdict

    from audiogan.models.bigvgan import BIGVGAN_PRESETS

    preset, tiny_channels = BIGVGAN_PAIRS[pair]
    shape = asdict(BIGVGAN_PRESETS[preset])
    hparams = {key: (_json_list(value) if isinstance(value, tuple) else value)
               for key, value in shape.items()}
    if tiny:
        hparams["upsample_initial_channel"] = tiny_channels
    return hparams


def _json_list(value: Any) -> Any:
    """Tuples (nested too) as lists, as in a parsed JSON config."""
    return [_json_list(item) for item in value] if isinstance(value, (tuple, list)) else value


def _bigvgan_package_model(pair: str, tiny: bool) -> nn.Module:
    """The ``bigvgan`` package's ``BigVGAN`` (torch activations, ``use_cuda_kernel=False``),
    seeded: both sides of a pair get this model's weights."""
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    torch.manual_seed(0)
    return BigVGAN(AttrDict(_bigvgan_hparams(pair, tiny)), use_cuda_kernel=False)


def _our_bigvgan(pair: str, tiny: bool) -> nn.Module:
    """Our ``bigvgan`` generator with the package model's weights (weight norm folded on both
    sides: the layouts are otherwise key for key); random weights when the package is absent
    (timing does not depend on the values)."""
    from audiogan.models import build_generator

    preset, tiny_channels = BIGVGAN_PAIRS[pair]
    ours = build_generator("bigvgan", preset=preset, weight_norm=False,
                           upsample_initial_channel=tiny_channels if tiny else None)
    if peer_status()["bigvgan"] is None:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
            reference = _bigvgan_package_model(pair, tiny)
            reference.remove_weight_norm()  # type: ignore[operator]
        ours.load_state_dict(reference.state_dict())
    return ours


def _pwg_shape(tiny: bool) -> dict[str, Any]:
    """ParallelWaveGANGenerator's ``generator_params`` (parallel_wavegan.v1; ``tiny``: 6 layers
    of 16 channels)."""
    if tiny:
        return {"aux_channels": N_MELS, "layers": 6, "stacks": 2, "residual_channels": 16,
                "gate_channels": 32, "skip_channels": 16}
    return {"aux_channels": N_MELS}  # the package's defaults are v1's


class _PeerParallelWaveGAN(nn.Module):
    """The package's ``ParallelWaveGANGenerator`` as ``mel (B, 80, T) -> (B, 1, T * 256)``: what
    its ``inference`` does (mel padded by replicating ``aux_context_window`` edge frames), batched,
    with the noise our generator draws when given none (``keyed_noise(0, 0, T * 256)``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: Tensor) -> Tensor:
        from audiogan.models.randomness import keyed_noise

        samples = mel.shape[-1] * HOP
        noise = keyed_noise(0, 0, samples, device=mel.device).expand(mel.shape[0], 1, samples)
        window = int(self.model.aux_context_window)
        return self.model(noise, F.pad(mel, (window, window), mode="replicate"))

    def remove_weight_norm(self) -> None:
        self.model.remove_weight_norm()  # type: ignore[operator]


def _pwg_package_model(tiny: bool) -> nn.Module:
    """The ``parallel_wavegan`` package's ``ParallelWaveGANGenerator``, seeded."""
    from parallel_wavegan.models import ParallelWaveGANGenerator

    torch.manual_seed(0)
    return _PeerParallelWaveGAN(ParallelWaveGANGenerator(**_pwg_shape(tiny)))


def _our_pwg(tiny: bool) -> nn.Module:
    """Our ``parallel_wavegan`` with the package model's weights (converted as ``audiogan
    import`` does); random weights when the package is absent (timing does not depend on the
    values)."""
    from pathlib import Path

    from audiogan.inference.imports.pwg_wavenet import (
        convert_parallel_wavegan,
        parallel_wavegan_params,
    )
    from audiogan.models import build_generator

    params = parallel_wavegan_params(_pwg_shape(tiny), Path("config.yml"))
    ours = build_generator("parallel_wavegan", **params, weight_norm=False)
    if peer_status()["parallel_wavegan"] is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its torch.nn.utils.weight_norm is deprecated
            reference = _pwg_package_model(tiny).model
        ours.load_state_dict(convert_parallel_wavegan(reference.state_dict(), params,
                                                      Path("checkpoint.pkl")))
    return ours


def _melgan_channels(pair: str, tiny: bool) -> int:
    params = MELGAN_PAIRS[pair]
    return math.prod(params["upsample_scales"]) if tiny else int(params["channels"])


class _PeerMultiBand(nn.Module):
    """The package's multi-band MelGAN as ``mel -> wave``: ``MelGANGenerator`` (4 sub-bands)
    then its ``PQMF`` synthesis, as its ``decode`` scripts do."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from parallel_wavegan.layers import PQMF

        self.model = model
        self.pqmf = PQMF(subbands=4)

    def forward(self, mel: Tensor) -> Tensor:
        return self.pqmf.synthesis(self.model(mel))  # type: ignore[no-any-return]

    def remove_weight_norm(self) -> None:
        self.model.remove_weight_norm()  # type: ignore[operator]


def _melgan_package_model(pair: str, tiny: bool) -> nn.Module:
    """The ``parallel_wavegan`` package's ``MelGANGenerator`` of ``pair``'s shape, seeded
    (multi-band: with its PQMF synthesis)."""
    from parallel_wavegan.models import MelGANGenerator

    params = dict(MELGAN_PAIRS[pair], channels=_melgan_channels(pair, tiny))
    torch.manual_seed(0)
    model = MelGANGenerator(in_channels=N_MELS, **params)
    return model if pair == "melgan" else _PeerMultiBand(model)


def _our_melgan(pair: str, tiny: bool) -> nn.Module:
    """Our (multi-band) MelGAN with the package model's weights (converted as ``audiogan
    import`` does; the package's unscaled PQMF); random weights when the package is absent."""
    from pathlib import Path

    from audiogan.inference.imports.melgan_neurips import melgan_layer_map, take_layers
    from audiogan.models import build_generator

    params = MELGAN_PAIRS[pair]
    channels = _melgan_channels(pair, tiny)
    if pair == "melgan":
        ours = build_generator("melgan", channels=channels, weight_norm=False)
    else:
        ours = build_generator("multiband_melgan", channels=channels, pqmf_scaled=False,
                               weight_norm=False)
    if peer_status()["parallel_wavegan"] is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its torch.nn.utils.weight_norm is deprecated
            reference = _melgan_package_model(pair, tiny)
        body = reference if pair == "melgan" else reference.model
        layers = melgan_layer_map("melgan", len(params["upsample_scales"]), params["stacks"],
                                  "stack", "skip_layer")
        state = take_layers(dict(body.state_dict()), layers, "generator", Path("pair"))
        ours.load_state_dict(state, strict=False)  # the PQMF buffers are ours already
    return ours


def build_pair_model(key: str, *, tiny: bool = False, weight_norm: bool = True) -> nn.Module:
    """Build model ``key`` of :data:`MODELS` with random weights (weight norm as built; our
    BigVGAN: folded, with the package model's weights).

    Every returned module maps mel (B, 80, frames) to a waveform of frames * 256 samples
    ((B, 1, T) or (B, T)).
    """
    from audiogan.models import build_generator

    torch.manual_seed(0)
    pair = MODELS.get(key, ("", "", None))[0]
    if pair in BIGVGAN_PAIRS:
        if key.startswith("ours_"):
            return _our_bigvgan(pair, tiny)
        return _bigvgan_package_model(pair, tiny)
    if pair in MELGAN_PAIRS:
        if key.startswith("ours_"):
            return _our_melgan(pair, tiny)
        return _melgan_package_model(pair, tiny)
    if key == "ours_pwg_v1":
        return _our_pwg(tiny)
    if key == "pwg_pwg_v1":
        return _pwg_package_model(tiny)
    if key in ("ours_hifigan_v1", "ours_hifigan_v1_cpu"):
        shape = _hifigan_shape(tiny)
        return build_generator("hifigan", preset="v1", in_channels=N_MELS,
                               upsample_initial_channel=shape["channels"],
                               weight_norm=weight_norm)
    if key == "pwg_hifigan_v1":
        from parallel_wavegan.models import HiFiGANGenerator

        return HiFiGANGenerator(in_channels=N_MELS, out_channels=1, kernel_size=7,
                                use_additional_convs=True, use_weight_norm=weight_norm,
                                **_hifigan_shape(tiny))
    if key in ("ours_istft_base", "ours_istft_base_cpu"):
        return build_generator("istft", preset="base", in_channels=N_MELS, **_istft_shape(tiny))
    if key == "vocos_mel":
        from vocos import Vocos
        from vocos.feature_extractors import MelSpectrogramFeatures
        from vocos.heads import ISTFTHead
        from vocos.models import VocosBackbone

        shape = _istft_shape(tiny)
        return Vocos(
            feature_extractor=MelSpectrogramFeatures(sample_rate=SAMPLE_RATE, n_fft=1024,
                                                     hop_length=HOP, n_mels=N_MELS),
            backbone=VocosBackbone(input_channels=N_MELS, **shape),
            head=ISTFTHead(dim=shape["dim"], n_fft=1024, hop_length=HOP, padding="same"),
        )
    raise SystemExit(f"unknown model {key!r}; valid: {', '.join(MODELS)}")


def inference_module(key: str, device: torch.device, *, tiny: bool) -> Callable[[Tensor], Tensor]:
    """Model ``key`` ready for inference (weight norm folded, eval, frozen) as ``mel -> wave``."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # PWG's torch.nn.utils.weight_norm is deprecated
        model = build_pair_model(key, tiny=tiny)
        bc.prepare_for_inference(model, device)  # (the bigvgan package prints as it folds)
    if key == "vocos_mel":
        return model.decode  # type: ignore[no-any-return]  # Vocos' own inference path
    if key in POLICY_KEYS:
        return policy_path(model, device)
    return model


def policy_path(model: nn.Module, device: torch.device) -> Callable[[Tensor], Tensor]:
    """``model`` as a :class:`~audiogan.Vocoder` on the path ``Vocoder.load`` gives it on
    ``device`` (the CPU policy of :mod:`audiogan.inference.cpu_policy`: e.g. HiFi-GAN V1 in
    bfloat16 with a float32 last stage on a CPU with bf16 instructions, MelGAN cut into pieces;
    float32 whole calls where no entry applies), as ``mel (B, 80, T) -> wave (B, T * 256)``:
    the user's call, input checks included."""
    from audiogan.features.mel import MelSpectrogram
    from audiogan.inference.vocoder import Vocoder

    # the hifigan profile: 22.05 kHz, hop 256, 80 mels (the pairs' shape)
    vocoder = Vocoder(model, MelSpectrogram("hifigan"))  # type: ignore[arg-type]
    vocoder._take_path(device, None, "auto")

    def run(mel: Tensor) -> Tensor:
        return vocoder(mel, check_range=False)

    return run


def mel_input(batch: int, seconds: float, device: torch.device) -> Tensor:
    """Random log-mel-like input of ``ceil(seconds * 22050 / 256)`` frames."""
    frames = max(1, math.ceil(seconds * SAMPLE_RATE / HOP))
    generator = torch.Generator().manual_seed(1234)
    return (torch.randn(batch, N_MELS, frames, generator=generator) - 5.0).to(device)


def _infer(model: Callable[[Tensor], Tensor], mel: Tensor) -> Callable[[], Tensor]:
    def run() -> Tensor:
        with torch.inference_mode():
            return model(mel)

    return run
