"""ParallelWaveGAN and melgan-neurips checkpoints in their toolkits' exact layouts, and
independent forwards (float64), written from the formats' descriptions (no reference code).

ParallelWaveGAN ``checkpoint-<N>steps.pkl``: ``{"model": {"generator", "discriminator"},
"optimizer", "scheduler", "steps", "epochs"}``. Generator keys, old-style weight norm
(``weight_g`` of shape ``(dim0, 1, 1)``, ``weight_v``, ``bias``):

- ``HiFiGANGenerator``: ``input_conv``, ``upsamples.i.1`` (ConvTranspose1d ``(in, out, 2u)``,
  padding ``u//2 + u%2``, output padding ``u%2``), ``blocks.{i*K+j}.convs1.d.1`` and (with
  ``use_additional_convs``) ``convs2.d.1``, ``output_conv.1``; leaky ReLU ``negative_slope``
  everywhere but 0.01 before ``output_conv``.
- ``MelGANGenerator``: one ``melgan`` Sequential: ``1`` conv, per stage ``act, convT, stacks x
  ResidualStack(stack.2, stack.4, skip_layer)``, then ``act, pad, conv[, tanh]``.

melgan-neurips ``Generator``: the same Sequential named ``model``, ``ResnetBlock`` s with
``block.2``, ``block.4``, ``shortcut``; rates (8, 8, 2, 2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def wn(out: dict[str, Tensor], name: str, shape: tuple[int, ...], gen: torch.Generator,
       transposed: bool = False) -> None:
    """An old-style weight-norm layer at ``name`` (g, v, bias) with random values."""
    out[f"{name}.weight_g"] = 0.5 + torch.rand(shape[0], *[1] * (len(shape) - 1), generator=gen)
    out[f"{name}.weight_v"] = torch.randn(*shape, generator=gen)
    out[f"{name}.bias"] = 0.1 * torch.randn(shape[1] if transposed else shape[0], generator=gen)


def weight(state: dict[str, Tensor], name: str) -> Tensor:
    """w = g * v / ||v|| (norm over all but the first dimension), float64."""
    v, g = state[f"{name}.weight_v"].double(), state[f"{name}.weight_g"].double()
    return g * v / v.pow(2).sum(dim=tuple(range(1, v.dim())), keepdim=True).sqrt()


def conv(state: dict[str, Tensor], name: str, x: Tensor, dilation: int = 1,
         padding: int = 0) -> Tensor:
    return F.conv1d(x, weight(state, name), state[f"{name}.bias"].double(), dilation=dilation,
                    padding=padding)


def up(state: dict[str, Tensor], name: str, x: Tensor, rate: int) -> Tensor:
    return F.conv_transpose1d(x, weight(state, name), state[f"{name}.bias"].double(),
                              stride=rate, padding=rate // 2 + rate % 2,
                              output_padding=rate % 2)


# --- MelGAN (ParallelWaveGAN's MelGANGenerator, melgan-neurips' Generator) -------------------


def melgan_state(prefix: str, stack: str, shortcut: str, in_channels: int, channels: int,
                 rates: list[int], stacks: int, out_channels: int = 1,
                 seed: int = 0) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    wn(state, f"{prefix}.1", (channels, in_channels, 7), gen)
    index = 2
    for rate in rates:
        wn(state, f"{prefix}.{index + 1}", (channels, channels // 2, 2 * rate), gen, True)
        channels //= 2
        for unit in range(index + 2, index + 2 + stacks):
            wn(state, f"{prefix}.{unit}.{stack}.2", (channels, channels, 3), gen)
            wn(state, f"{prefix}.{unit}.{stack}.4", (channels, channels, 1), gen)
            wn(state, f"{prefix}.{unit}.{shortcut}", (channels, channels, 1), gen)
        index += 2 + stacks
    wn(state, f"{prefix}.{index + 2}", (out_channels, channels, 7), gen)
    return state


def melgan_forward(state: dict[str, Tensor], prefix: str, stack: str, shortcut: str,
                   rates: list[int], stacks: int, mel: Tensor) -> Tensor:
    """(B, n_mels, T) -> (B, out_channels, T * prod(rates)), slope 0.2, reflection padding."""
    x = conv(state, f"{prefix}.1", F.pad(mel.double(), (3, 3), mode="reflect"))
    index = 2
    for rate in rates:
        x = up(state, f"{prefix}.{index + 1}", F.leaky_relu(x, 0.2), rate)
        for j, unit in enumerate(range(index + 2, index + 2 + stacks)):
            d = 3 ** j
            y = F.pad(F.leaky_relu(x, 0.2), (d, d), mode="reflect")
            y = conv(state, f"{prefix}.{unit}.{stack}.2", y, dilation=d)
            y = conv(state, f"{prefix}.{unit}.{stack}.4", F.leaky_relu(y, 0.2))
            x = conv(state, f"{prefix}.{unit}.{shortcut}", x) + y
        index += 2 + stacks
    x = F.pad(F.leaky_relu(x, 0.2), (3, 3), mode="reflect")
    return torch.tanh(conv(state, f"{prefix}.{index + 2}", x))


# --- ParallelWaveGAN's HiFiGANGenerator ------------------------------------------------------


def hifigan_state(p: dict[str, Any], seed: int = 0) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    channels = p["channels"]
    wn(state, "input_conv", (channels, p["in_channels"], 7), gen)
    kernels = p["resblock_kernel_sizes"]
    for i, rate in enumerate(p["upsample_scales"]):
        wn(state, f"upsamples.{i}.1", (channels, channels // 2, 2 * rate), gen, True)
        channels //= 2
        for j, k in enumerate(kernels):
            for d in range(len(p["resblock_dilations"][j])):
                wn(state, f"blocks.{i * len(kernels) + j}.convs1.{d}.1", (channels, channels, k),
                   gen)
                if p["use_additional_convs"]:
                    wn(state, f"blocks.{i * len(kernels) + j}.convs2.{d}.1",
                       (channels, channels, k), gen)
    wn(state, "output_conv.1", (1, channels, 7), gen)
    return state


def hifigan_forward(state: dict[str, Tensor], p: dict[str, Any], mel: Tensor) -> Tensor:
    slope = p["nonlinear_activation_params"]["negative_slope"]
    kernels = p["resblock_kernel_sizes"]
    x = conv(state, "input_conv", mel.double(), padding=3)
    for i, rate in enumerate(p["upsample_scales"]):
        x = up(state, f"upsamples.{i}.1", F.leaky_relu(x, slope), rate)
        total = 0
        for j, k in enumerate(kernels):
            block, y = f"blocks.{i * len(kernels) + j}", x
            for u, d in enumerate(p["resblock_dilations"][j]):
                t = conv(state, f"{block}.convs1.{u}.1", F.leaky_relu(y, slope), dilation=d,
                         padding=(k - 1) // 2 * d)
                if p["use_additional_convs"]:
                    t = conv(state, f"{block}.convs2.{u}.1", F.leaky_relu(t, slope),
                             padding=(k - 1) // 2)
                y = y + t
            total = total + y
        x = total / len(kernels)
    return torch.tanh(conv(state, "output_conv.1", F.leaky_relu(x, 0.01), padding=3))


# --- MelGAN multi-scale discriminator (melgan-neurips Discriminator, PWG MelGANMultiScale...) --


def melgan_disc_state(scale_prefix: str, layer_prefix: str, scales: int, channels: int,
                      downsample: list[int], max_channels: int, seed: int = 9
                      ) -> dict[str, Tensor]:
    """Weight-normed convs: first ``<layer 0>.1`` (kernel 15), downsampling ``<layer j>.0``
    (kernel 10 s + 1, groups in / 4), ``<layer n+1>.0`` (kernel 5), ``<layer n+2>`` (kernel 3)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for i in range(scales):
        def name(j: int, suffix: str, i: int = i) -> str:
            return f"{scale_prefix.format(i=i)}.{layer_prefix.format(j=j)}{suffix}"
        wn(state, name(0, ".1"), (channels, 1, 15), gen)
        c = channels
        for j, s in enumerate(downsample, start=1):
            out = min(c * s, max_channels)
            wn(state, name(j, ".0"), (out, 4, 10 * s + 1), gen)  # groups c / 4: 4 in per group
            c = out
        out = min(2 * c, max_channels)
        wn(state, name(len(downsample) + 1, ".0"), (out, c, 5), gen)
        wn(state, name(len(downsample) + 2, ""), (1, out, 3), gen)
    return state


def melgan_disc_forward(state: dict[str, Tensor], scale_prefix: str, layer_prefix: str,
                        scales: int, downsample: list[int], wave: Tensor) -> list[list[Tensor]]:
    """Every scale's layer outputs (leaky ReLU 0.2 after all but the last), float64."""
    x, outputs = wave.double(), []
    for i in range(scales):
        def name(j: int, suffix: str, i: int = i) -> str:
            return f"{scale_prefix.format(i=i)}.{layer_prefix.format(j=j)}{suffix}"
        if i:
            x = F.avg_pool1d(x, 4, 2, padding=1, count_include_pad=False)
        y = F.leaky_relu(conv(state, name(0, ".1"), F.pad(x, (7, 7), mode="reflect")), 0.2)
        layers = [y]
        for j, s in enumerate(downsample, start=1):
            w = weight(state, name(j, ".0"))
            y = F.leaky_relu(F.conv1d(y, w, state[name(j, ".0") + ".bias"].double(), stride=s,
                                      padding=5 * s, groups=y.shape[1] // 4), 0.2)
            layers.append(y)
        y = F.leaky_relu(conv(state, name(len(downsample) + 1, ".0"), y, padding=2), 0.2)
        layers.append(y)
        layers.append(conv(state, name(len(downsample) + 2, ""), y, padding=1))
        outputs.append(layers)
    return outputs


# --- ParallelWaveGAN's HiFiGANMultiScaleMultiPeriodDiscriminator (release shapes) -------------

_PERIOD_CHANNELS = [32, 128, 512, 1024, 1024]
_SCALE_LAYERS = [(128, 1, 15, 1, 1), (128, 128, 41, 2, 4), (256, 128, 41, 2, 16),
                 (512, 256, 41, 4, 16), (1024, 512, 41, 4, 16), (1024, 1024, 41, 1, 16),
                 (1024, 1024, 5, 1, 1), (1, 1024, 3, 1, 1)]  # (out, in, kernel, stride, groups)


def hifigan_disc_state(periods: list[int], scales: int, seed: int = 11) -> dict[str, Tensor]:
    """``mpd.discriminators.{k}.convs.{j}.0`` / ``output_conv`` (weight norm, kernels (5, 1) and
    (2, 1)); ``msd.discriminators.{i}.layers.{j}.0`` / ``layers.7`` (scale 0 spectral norm:
    ``weight_orig``, ``weight_u``, ``weight_v``; the others weight norm)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for k in range(len(periods)):
        c = 1
        for j, out in enumerate(_PERIOD_CHANNELS):
            wn(state, f"mpd.discriminators.{k}.convs.{j}.0", (out, c, 5, 1), gen)
            c = out
        wn(state, f"mpd.discriminators.{k}.output_conv", (1, c, 2, 1), gen)
    for i in range(scales):
        for j, (out, inp, kernel, _, groups) in enumerate(_SCALE_LAYERS):
            name = f"msd.discriminators.{i}.layers.{j}" + ("" if j == 7 else ".0")
            shape = (out, inp // groups, kernel)
            if i == 0:
                state[f"{name}.weight_orig"] = torch.randn(*shape, generator=gen) * 0.05
                u, v = torch.randn(out, generator=gen), torch.randn(math.prod(shape[1:]),
                                                                    generator=gen)
                state[f"{name}.weight_u"], state[f"{name}.weight_v"] = u / u.norm(), v / v.norm()
                state[f"{name}.bias"] = 0.1 * torch.randn(out, generator=gen)
            else:
                wn(state, name, shape, gen)
    return state


def hifigan_disc_forward(state: dict[str, Tensor], periods: list[int], scales: int,
                         wave: Tensor) -> list[list[Tensor]]:
    """Every sub-discriminator's layer outputs, flattened, MPD first (float64, eval mode:
    spectral norm divides by u^T W v with the stored u, v)."""
    outputs = []
    for k, period in enumerate(periods):
        x = wave.double()
        if x.shape[-1] % period:
            x = F.pad(x, (0, period - x.shape[-1] % period), mode="reflect")
        x = x.view(x.shape[0], 1, -1, period)
        layers = []
        for j in range(5):
            name = f"mpd.discriminators.{k}.convs.{j}.0"
            x = F.leaky_relu(F.conv2d(x, weight(state, name), state[f"{name}.bias"].double(),
                                      stride=(3 if j < 4 else 1, 1), padding=(2, 0)), 0.1)
            layers.append(x.flatten(1))
        name = f"mpd.discriminators.{k}.output_conv"
        layers.append(F.conv2d(x, weight(state, name), state[f"{name}.bias"].double(),
                               padding=(1, 0)).flatten(1))
        outputs.append(layers)
    x = wave.double()
    for i in range(scales):
        if i:
            x = F.avg_pool1d(x, 4, 2, padding=2)
        y, layers = x, []
        for j, (_, _, kernel, stride, groups) in enumerate(_SCALE_LAYERS):
            name = f"msd.discriminators.{i}.layers.{j}" + ("" if j == 7 else ".0")
            if i == 0:
                w = state[f"{name}.weight_orig"].double()
                sigma = state[f"{name}.weight_u"].double() @ (
                    w.reshape(w.shape[0], -1) @ state[f"{name}.weight_v"].double())
                w = w / sigma
            else:
                w = weight(state, name)
            y = F.conv1d(y, w, state[f"{name}.bias"].double(), stride=stride,
                         padding=(kernel - 1) // 2, groups=groups)
            y = y if j == 7 else F.leaky_relu(y, 0.1)
            layers.append(y.flatten(1))
        outputs.append(layers)
    return outputs


# --- ParallelWaveGAN's PQMF synthesis -----------------------------------------------------------


def pqmf_synthesis(y: Tensor, taps: int = 62, cutoff: float = 0.142, beta: float = 9.0) -> Tensor:
    """Kaiser-windowed sinc prototype (not renormalised), cosine-modulated synthesis filters,
    zero insertion with gain K, ``taps/2`` zeros each side, correlation: (B, K, L) -> (B, 1, LK)."""
    subbands = y.shape[1]
    n = np.arange(taps + 1) - taps / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        proto = np.sin(math.pi * cutoff * n) / (math.pi * n)
    proto[taps // 2] = cutoff
    proto = proto * np.kaiser(taps + 1, beta)
    out = 0
    for k in range(subbands):
        g = 2 * proto * np.cos((2 * k + 1) * math.pi / (2 * subbands) * n
                               - (-1) ** k * math.pi / 4)
        upsampled = torch.zeros(y.shape[0], 1, y.shape[-1] * subbands, dtype=torch.float64)
        upsampled[..., ::subbands] = subbands * y[:, k:k + 1].double()
        out = out + F.conv1d(F.pad(upsampled, (taps // 2, taps // 2)),
                             torch.from_numpy(g)[None, None])
    return out
