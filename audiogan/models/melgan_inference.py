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
place on tensors this forward made, and each residual unit adds its block into its shortcut
in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from audiogan.models.melgan import MelGANBody, MirrorPad1d, ResidualUnit

__all__ = ["applies", "forward"]

_CHANNELS_LAST = torch.channels_last


def _supported(layer: nn.Module) -> bool:
    from audiogan.models.melgan import MirrorPad1d, ResidualUnit

    if isinstance(layer, ResidualUnit):
        return all(_supported(part) for part in layer.block) and _supported(layer.shortcut)
    if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
        return layer.padding_mode == "zeros" and not isinstance(layer.padding, str)
    return isinstance(layer, (MirrorPad1d, nn.LeakyReLU, nn.Tanh))


def applies(body: MelGANBody, mel: Tensor) -> bool:
    """Whether :func:`forward` serves this call (no autograd, float32 CPU, eager, oneDNN)."""
    return (
        not torch.is_grad_enabled()
        and mel.device.type == "cpu"
        and mel.dtype == torch.float32
        and mel.dim() == 3
        and torch.backends.mkldnn.is_available()
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
        and all(p.dtype == torch.float32 for p in body.parameters())
        and all(_supported(layer) for layer in body.layers)
    )


def _mirror_pad(pad: MirrorPad1d, x: Tensor) -> Tensor:
    """:class:`~audiogan.models.melgan.MirrorPad1d` on (B, C, 1, T) -> (B, C, 1, T + pads),
    channels-last."""
    left, right = pad.padding[0], pad.padding[1]
    if max(left, right) < x.shape[-1]:
        out = F.pad(x, (left, right, 0, 0), mode="reflect")
    else:  # as short as the padding: the reference's repeated mirroring
        out = pad(x.squeeze(2)).unsqueeze(2)
    return out.contiguous(memory_format=_CHANNELS_LAST)


def _conv(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv`` on channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, stride=(1, conv.stride[0]),
                    padding=(0, int(conv.padding[0])), dilation=(1, conv.dilation[0]),
                    groups=conv.groups)


def _conv_transpose(conv: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """``conv`` (with an :class:`~audiogan.models.layers.ExactConvTranspose1d`'s trim) on
    channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    out = F.conv_transpose2d(
        x, conv.weight.unsqueeze(2), conv.bias, stride=(1, conv.stride[0]),
        padding=(0, int(conv.padding[0])), output_padding=(0, conv.output_padding[0]),
        groups=conv.groups, dilation=(1, conv.dilation[0]))
    trim = int(getattr(conv, "trim", 0))
    return out[..., : out.shape[-1] - trim] if trim else out


def _residual(unit: ResidualUnit, x: Tensor) -> Tensor:
    """:class:`~audiogan.models.melgan.ResidualUnit` on channels-last x (B, C, 1, T)."""
    slope = unit.negative_slope
    pad, dilated, pointwise = unit.block[1], unit.block[2], unit.block[4]
    if unit.padded:
        h = F.leaky_relu(_mirror_pad(pad, x), slope, inplace=True)  # type: ignore[arg-type]
    else:
        h = F.leaky_relu(x, slope)
    h = F.leaky_relu(_conv(dilated, h), slope, inplace=True)  # type: ignore[arg-type]
    return _conv(unit.shortcut, x).add_(_conv(pointwise, h))  # type: ignore[arg-type]


def forward(body: MelGANBody, mel: Tensor) -> Tensor:
    """The body's output for ``mel`` (B, n_mels, frames) -> (B, out_channels, frames * hop);
    call only where :func:`applies`."""
    from audiogan.models.melgan import MirrorPad1d, ResidualUnit

    x = mel.unsqueeze(2).contiguous(memory_format=_CHANNELS_LAST)
    if x.data_ptr() == mel.data_ptr():  # already channels-last: the layers below write in place
        x = x.clone(memory_format=_CHANNELS_LAST)
    for layer in body.layers:
        if isinstance(layer, ResidualUnit):
            x = _residual(layer, x)
        elif isinstance(layer, MirrorPad1d):
            x = _mirror_pad(layer, x)
        elif isinstance(layer, nn.Conv1d):
            x = _conv(layer, x)
        elif isinstance(layer, nn.ConvTranspose1d):
            x = _conv_transpose(layer, x)
        elif isinstance(layer, nn.LeakyReLU):
            x = F.leaky_relu(x, layer.negative_slope, inplace=True)
        else:  # nn.Tanh (applies() admits nothing else)
            x = x.tanh_()
    return x.squeeze(2).contiguous()
