"""jik876/hifi-gan checkpoints built in the reference's exact layout, and an independent forward.

Written from the format's description (no reference code): the generator is
``{"generator": state_dict}`` with old-style weight norm (``<layer>.weight_g`` of shape
``(dim0, 1, 1)`` and ``<layer>.weight_v``) on ``conv_pre``, ``ups.i`` (ConvTranspose1d, weights
``(in, out, k)``, padding ``(k-u)//2``), ``resblocks.{stage*K+j}.convs1.d`` / ``convs2.d``
(resblock 1) or ``convs.d`` (resblock 2) and ``conv_post``. The discriminator file is
``{"mpd", "msd", "optim_g", "optim_d", "steps", "epoch"}`` with the first MSD scale
spectral-normed (``weight_orig``, ``weight_u``, ``weight_v``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

TINY_CONFIG: dict[str, Any] = {
    "resblock": "1", "num_gpus": 0, "batch_size": 4, "learning_rate": 0.0002, "adam_b1": 0.8,
    "adam_b2": 0.99, "lr_decay": 0.999, "seed": 1234,
    "upsample_rates": [4, 4], "upsample_kernel_sizes": [8, 8], "upsample_initial_channel": 16,
    "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "segment_size": 1024, "num_mels": 8, "num_freq": 33, "n_fft": 64, "hop_size": 16,
    "win_size": 64, "sampling_rate": 8000, "fmin": 0, "fmax": 4000, "fmax_for_loss": None,
}

TINY_V3_CONFIG: dict[str, Any] = {
    **TINY_CONFIG, "resblock": "2", "upsample_rates": [4, 2, 2],
    "upsample_kernel_sizes": [8, 4, 4], "resblock_kernel_sizes": [3, 5, 7],
    "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
}


def _wn(out: dict[str, Tensor], name: str, shape: tuple[int, ...], gen: torch.Generator) -> None:
    out[f"{name}.weight_g"] = 0.5 + torch.rand(shape[0], *[1] * (len(shape) - 1), generator=gen)
    out[f"{name}.weight_v"] = torch.randn(*shape, generator=gen)
    bias_size = shape[1] if name.startswith("ups.") else shape[0]
    out[f"{name}.bias"] = 0.1 * torch.randn(bias_size, generator=gen)


def generator_state(h: dict[str, Any], in_channels: int = 80, seed: int = 0) -> dict[str, Tensor]:
    """A random generator state dict in jik876's key layout for config ``h``."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    channels = h["upsample_initial_channel"]
    _wn(state, "conv_pre", (channels, in_channels, 7), gen)
    kernels = h["resblock_kernel_sizes"]
    for i, k in enumerate(h["upsample_kernel_sizes"]):
        _wn(state, f"ups.{i}", (channels, channels // 2, k), gen)
        channels //= 2
        for j, kr in enumerate(kernels):
            block = f"resblocks.{i * len(kernels) + j}"
            if h["resblock"] == "1":
                for d in range(3):
                    _wn(state, f"{block}.convs1.{d}", (channels, channels, kr), gen)
                    _wn(state, f"{block}.convs2.{d}", (channels, channels, kr), gen)
            else:
                for d in range(2):
                    _wn(state, f"{block}.convs.{d}", (channels, channels, kr), gen)
    _wn(state, "conv_post", (1, channels, 7), gen)
    return state


def _weight(state: dict[str, Tensor], name: str) -> Tensor:
    """w = g * v / ||v||, the norm over every dimension but the first (written out)."""
    v, g = state[f"{name}.weight_v"].double(), state[f"{name}.weight_g"].double()
    norm = v.pow(2).sum(dim=tuple(range(1, v.dim())), keepdim=True).sqrt()
    return g * v / norm


def reference_forward(state: dict[str, Tensor], h: dict[str, Any], mel: Tensor) -> Tensor:
    """The reference generator's forward, in float64: mel (B, C, T) -> (B, 1, T * hop)."""
    def conv(x: Tensor, name: str, dilation: int = 1) -> Tensor:
        w = _weight(state, name)
        k = w.shape[-1]
        return F.conv1d(x, w, state[f"{name}.bias"].double(), dilation=dilation,
                        padding=(k * dilation - dilation) // 2)

    x = conv(mel.double(), "conv_pre")
    kernels = h["resblock_kernel_sizes"]
    for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"])):
        x = F.leaky_relu(x, 0.1)
        x = F.conv_transpose1d(x, _weight(state, f"ups.{i}"), state[f"ups.{i}.bias"].double(),
                               stride=u, padding=(k - u) // 2)
        total = None
        for j, dilations in enumerate(h["resblock_dilation_sizes"]):
            block, y = f"resblocks.{i * len(kernels) + j}", x
            if h["resblock"] == "1":
                for d in range(3):
                    t = conv(F.leaky_relu(y, 0.1), f"{block}.convs1.{d}", dilations[d])
                    y = y + conv(F.leaky_relu(t, 0.1), f"{block}.convs2.{d}")
            else:
                for d in range(2):
                    y = y + conv(F.leaky_relu(y, 0.1), f"{block}.convs.{d}", dilations[d])
            total = y if total is None else total + y
        x = total / len(kernels)
    x = conv(F.leaky_relu(x, 0.01), "conv_post")
    return torch.tanh(x)


def _sn(out: dict[str, Tensor], name: str, shape: tuple[int, ...], gen: torch.Generator) -> None:
    out[f"{name}.weight_orig"] = 0.05 * torch.randn(*shape, generator=gen)
    out[f"{name}.weight_u"] = F.normalize(torch.randn(shape[0], generator=gen), dim=0)
    out[f"{name}.weight_v"] = F.normalize(
        torch.randn(int(torch.tensor(shape[1:]).prod()), generator=gen), dim=0)
    out[f"{name}.bias"] = 0.1 * torch.randn(shape[0], generator=gen)


def discriminator_state(seed: int = 1) -> dict[str, Any]:
    """A ``do_`` checkpoint: HiFi-GAN's fixed MPD (periods 2,3,5,7,11) and 3-scale MSD."""
    gen = torch.Generator().manual_seed(seed)
    mpd: dict[str, Tensor] = {}
    for p in range(5):
        c_in = 1
        for layer, c_out in enumerate((32, 128, 512, 1024, 1024)):
            _wn(mpd, f"discriminators.{p}.convs.{layer}", (c_out, c_in, 5, 1), gen)
            c_in = c_out
        _wn(mpd, f"discriminators.{p}.conv_post", (1, 1024, 3, 1), gen)
    msd: dict[str, Tensor] = {}
    layers = ((128, 1, 15), (128, 32, 41), (256, 8, 41), (512, 16, 41), (1024, 32, 41),
              (1024, 64, 41), (1024, 1024, 5))  # (out, in per group, kernel)
    for s in range(3):
        norm = _sn if s == 0 else _wn
        for layer, shape in enumerate(layers):
            norm(msd, f"discriminators.{s}.convs.{layer}", shape, gen)
        norm(msd, f"discriminators.{s}.conv_post", (1, 1024, 3), gen)
    return {"mpd": mpd, "msd": msd, "optim_g": {}, "optim_d": {}, "steps": 1000, "epoch": 3}


def write_checkpoint(directory: Path, h: dict[str, Any], *, name: str = "g_00001000",
                     in_channels: int = 8, legacy: bool = False, seed: int = 0) -> Path:
    """``directory/name`` (+ ``config.json``) holding ``{"generator": ...}``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    torch.save({"generator": generator_state(h, in_channels, seed)}, path,
               _use_new_zipfile_serialization=not legacy)
    (directory / "config.json").write_text(json.dumps(h, indent=4))
    return path
