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


def _mirror_pad(pad: MirrorPad1d, x: Tensor, slope: float | None = None) -> Tensor:
    """:class:`~audiogan.models.melgan.MirrorPad1d` on (B, C, 1, T) -> (B, C, 1, T + pads),
    channels-last; with ``slope``, the leaky ReLU of that (it commutes with mirroring) in one
    pass over x."""
    left, right = pad.padding[0], pad.padding[1]
    length = x.shape[-1]
    if max(left, right) >= length:  # as short as the padding: the reference's repeated mirroring
        out = pad(x.squeeze(2)).unsqueeze(2).contiguous(memory_format=_CHANNELS_LAST)
        return F.leaky_relu(out, slope, inplace=True) if slope is not None else out
    if slope is None:
        return F.pad(x, (left, right, 0, 0), mode="reflect").contiguous(
            memory_format=_CHANNELS_LAST)
    batch, channels = x.shape[:2]
    out = torch.empty((batch, channels, 1, left + length + right), dtype=x.dtype,
                      device=x.device, memory_format=_CHANNELS_LAST)
    torch._C._nn.leaky_relu(x, slope, out=out[..., left : left + length])
    out[..., :left] = out[..., left + 1 : 2 * left + 1].flip(-1)
    out[..., left + length :] = out[..., left + length - 1 - right : left + length - 1].flip(-1)
    return out


def _conv(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv`` on channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, stride=(1, conv.stride[0]),
                    padding=(0, int(conv.padding[0])), dilation=(1, conv.dilation[0]),
                    groups=conv.groups)


def _conv_transpose(conv: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """``conv`` (with an :class:`~audiogan.models.layers.ExactConvTranspose1d`'s trim) on
    channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    length = ((x.shape[-1] - 1) * conv.stride[0] - 2 * int(conv.padding[0])
              + conv.kernel_size[0] + conv.output_padding[0] - int(getattr(conv, "trim", 0)))
    if 1 < conv.stride[0] <= _POLYPHASE_MAX_STRIDE and conv.groups == 1 and conv.dilation[0] == 1:
        return _polyphase(conv, x)[..., int(conv.padding[0]) : int(conv.padding[0]) + length]
    out = F.conv_transpose2d(
        x, conv.weight.unsqueeze(2), conv.bias, stride=(1, conv.stride[0]),
        padding=(0, int(conv.padding[0])), output_padding=(0, conv.output_padding[0]),
        groups=conv.groups, dilation=(1, conv.dilation[0]))
    return out[..., :length]


#: Transposed convs with strides up to this run as a polyphase conv (measured here, 2 threads:
#: 192 -> 96 channels at stride 4, 14.9 -> 10.6 ms; stride 2, 6.2 -> 5.5 ms; at stride 8 the
#: direct transposed conv is faster, 10.8 vs 17.1 ms).
_POLYPHASE_MAX_STRIDE = 4


def _polyphase(conv: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """The full transposed conv of x (B, C_in, 1, T), channels-last, before its padding is cut:
    (B, C_out, 1, (T + taps - 1) * stride), as one ordinary conv.

    Output sample ``q * s + r`` of the full transposed conv (stride ``s``, kernel ``K``,
    ``taps = ceil(K / s)``) is ``sum_m x[q - m] W[:, :, m * s + r]``: a conv with ``taps`` taps
    and ``s * C_out`` output channels (channel ``r * C_out + c``) over x zero-padded by
    ``taps - 1`` on both sides. Channels-last, its (B, T + taps - 1, s * C_out) memory already
    is the interleaved (B, (T + taps - 1) * s, C_out) signal: a view, no shuffle.
    """
    stride, kernel = conv.stride[0], conv.kernel_size[0]
    c_in, c_out, _ = conv.weight.shape
    taps = -(-kernel // stride)
    weight = F.pad(conv.weight, (0, taps * stride - kernel)).view(c_in, c_out, taps, stride)
    weight = weight.flip(2).permute(3, 1, 0, 2).reshape(stride * c_out, c_in, 1, taps)
    bias = conv.bias.repeat(stride) if conv.bias is not None else None
    phases = F.conv2d(x, weight, bias, padding=(0, taps - 1)).contiguous(
        memory_format=_CHANNELS_LAST)  # (B, s * C_out, 1, Q)
    batch, _, _, steps = phases.shape
    samples = steps * stride
    return phases.as_strided((batch, c_out, 1, samples),
                             (samples * c_out, 1, samples * c_out, c_out))


def _residual(unit: ResidualUnit, x: Tensor) -> Tensor:
    """:class:`~audiogan.models.melgan.ResidualUnit` on channels-last x (B, C, 1, T)."""
    slope = unit.negative_slope
    pad, dilated, pointwise = unit.block[1], unit.block[2], unit.block[4]
    if unit.padded:
        h = _mirror_pad(pad, x, slope)  # type: ignore[arg-type]
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
