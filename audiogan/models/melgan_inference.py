"""The MelGAN body's CPU inference forward: channels-last convolutions, the same audio.

:meth:`MelGANBody.forward <audiogan.models.melgan.MelGANBody.forward>` (MelGAN and multi-band
MelGAN) runs this when no gradient is recorded (``torch.inference_mode`` / ``torch.no_grad``)
on float32 CPU tensors outside tracing, scripting, exporting and ``torch.compile``; everywhere
else it runs its reference forward. Both compute the same function (tested to float rounding).

The difference is the memory layout. The reference keeps PyTorch's ``(B, C, T)`` layout, for
which oneDNN reorders activations into its own blocked layout and back around every
convolution; at MelGAN's 48-192 channels over tens of thousands of samples those reorders
cost as much as the arithmetic (a 48-channel 1x1 conv over 55k samples: 3.7 ms against
1.4 ms). Here every activation is a channels-last ``(B, C, 1, T)`` tensor (time-major in
memory), which oneDNN's convolutions read and write directly; leaky ReLUs and ``tanh`` run in
place on tensors this forward made, a residual unit's mirror padding and leaky ReLU are one
pass, and it adds its block into its shortcut in place. Transposed convs of stride 2-4 run as
one ordinary (polyphase) conv whose channels-last output already is the upsampled signal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models.channels_last import (
    CHANNELS_LAST,
    conv,
    conv_transpose,
    eager_cpu_inference,
    supported_conv,
    to_channels_last,
)

if TYPE_CHECKING:
    from audiogan.models.melgan import MelGANBody, MirrorPad1d, ResidualUnit

__all__ = ["applies", "forward"]


def _supported(layer: nn.Module) -> bool:
    from audiogan.models.melgan import MirrorPad1d, ResidualUnit

    if isinstance(layer, ResidualUnit):
        return all(_supported(part) for part in layer.block) and _supported(layer.shortcut)
    return supported_conv(layer) or isinstance(layer, (MirrorPad1d, nn.LeakyReLU, nn.Tanh))


def applies(body: MelGANBody, mel: Tensor) -> bool:
    """Whether :func:`forward` serves this call (no autograd, float32 CPU, eager, oneDNN)."""
    return (mel.dim() == 3 and eager_cpu_inference(mel, body, (torch.float32,))
            and all(_supported(layer) for layer in body.layers))


def _mirror_pad(pad: MirrorPad1d, x: Tensor, slope: float | None = None) -> Tensor:
    """:class:`~audiogan.models.melgan.MirrorPad1d` on (B, C, 1, T) -> (B, C, 1, T + pads),
    channels-last; with ``slope``, the leaky ReLU of that (it commutes with mirroring) in one
    pass over x."""
    left, right = pad.padding[0], pad.padding[1]
    length = x.shape[-1]
    if max(left, right) >= length:  # as short as the padding: the reference's repeated mirroring
        out = pad(x.squeeze(2)).unsqueeze(2).contiguous(memory_format=CHANNELS_LAST)
        return F.leaky_relu(out, slope, inplace=True) if slope is not None else out
    if slope is None:
        return F.pad(x, (left, right, 0, 0), mode="reflect").contiguous(
            memory_format=CHANNELS_LAST)
    batch, channels = x.shape[:2]
    out = torch.empty((batch, channels, 1, left + length + right), dtype=x.dtype,
                      device=x.device, memory_format=CHANNELS_LAST)
    torch._C._nn.leaky_relu(x, slope, out=out[..., left : left + length])
    out[..., :left] = out[..., left + 1 : 2 * left + 1].flip(-1)
    out[..., left + length :] = out[..., left + length - 1 - right : left + length - 1].flip(-1)
    return out


def _residual(unit: ResidualUnit, x: Tensor) -> Tensor:
    """:class:`~audiogan.models.melgan.ResidualUnit` on channels-last x (B, C, 1, T)."""
    slope = unit.negative_slope
    pad, dilated, pointwise = unit.block[1], unit.block[2], unit.block[4]
    if unit.padded:
        h = _mirror_pad(pad, x, slope)  # type: ignore[arg-type]
    else:
        h = F.leaky_relu(x, slope)
    h = F.leaky_relu(conv(dilated, h), slope, inplace=True)  # type: ignore[arg-type]
    return conv(unit.shortcut, x).add_(conv(pointwise, h))  # type: ignore[arg-type]


def forward(body: MelGANBody, mel: Tensor) -> Tensor:
    """The body's output for ``mel`` (B, n_mels, frames) -> (B, out_channels, frames * hop);
    call only where :func:`applies`."""
    from audiogan.models.melgan import MirrorPad1d, ResidualUnit

    x = to_channels_last(mel)  # never the caller's memory: the layers below write in place
    for layer in body.layers:
        if isinstance(layer, ResidualUnit):
            x = _residual(layer, x)
        elif isinstance(layer, MirrorPad1d):
            x = _mirror_pad(layer, x)
        elif isinstance(layer, nn.Conv1d):
            x = conv(layer, x)
        elif isinstance(layer, nn.ConvTranspose1d):
            x = conv_transpose(layer, x)
        elif isinstance(layer, nn.LeakyReLU):
            x = F.leaky_relu(x, layer.negative_slope, inplace=True)
        else:  # nn.Tanh (applies() admits nothing else)
            x = x.tanh_()
    return x.squeeze(2).contiguous()
