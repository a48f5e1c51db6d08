"""Channels-last 1-D convolutions for the CPU inference forwards of the conv generators.

A 1-D activation ``(B, C, T)`` is held as a channels-last ``(B, C, 1, T)`` tensor: time-major
in memory, the layout oneDNN's convolutions read and write without reordering (PyTorch's
``(B, C, T)`` layout costs a reorder into oneDNN's blocked layout and back around every conv:
as much as the arithmetic itself at 32-192 channels over tens of thousands of samples; a
48-channel 1x1 conv over 55k samples takes 3.7 ms that way and 1.4 ms channels-last, 2 CPU
threads). :mod:`audiogan.models.melgan_inference` builds on these helpers (its output equals
the reference forward's to float rounding), and :mod:`audiogan.models.istft_inference` on
:func:`eager_cpu_inference`.

Measured and not taken: the same forward for HiFi-GAN (1.18x in float32, 1.27x on V1's bf16
path) raised the peak memory of a 10-minute V1 mel from 329-343 to 380-682 MiB: oneDNN keeps
every channels-last conv primitive it built (per input length) with memory that grows with the
length, more than for PyTorch's layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CHANNELS_LAST", "conv", "conv_transpose", "eager_cpu_inference", "supported_conv",
           "to_channels_last"]

CHANNELS_LAST = torch.channels_last

#: Transposed convs with strides up to this run as one polyphase conv (measured here, 2
#: threads: 192 -> 96 channels at stride 4, 14.9 -> 10.6 ms; stride 2, 6.2 -> 5.5 ms; at
#: stride 8 the direct transposed conv is faster, 10.8 vs 17.1 ms).
POLYPHASE_MAX_STRIDE = 4


def _hooked(module: nn.Module) -> bool:
    """Whether a forward hook is registered on a submodule of ``module``, or globally (an
    inference forward calls no submodule, so it would skip them; ``module``'s own hooks run
    as usual, from its ``__call__``)."""
    hooks = nn.modules.module
    if (hooks._global_forward_hooks or hooks._global_forward_pre_hooks
            or getattr(hooks, "_global_forward_hooks_always_called", None)):
        return True
    return any(sub._forward_hooks or sub._forward_pre_hooks
               for sub in module.modules() if sub is not module)


def _transformed() -> bool:
    """Whether a functorch transform (``vmap``, ``grad``) is active: the reference forward
    handles those."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


def eager_cpu_inference(x: Tensor, module: nn.Module, dtypes: tuple[torch.dtype, ...]) -> bool:
    """Whether a call of ``module`` on ``x`` may take a CPU inference forward: no autograd, a
    CPU tensor of one of ``dtypes``, parameters of those dtypes, oneDNN present and enabled, no
    forward hooks inside ``module`` (which it would not call), and not tracing, exporting,
    compiling, under CPU autocast or a functorch transform."""
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype in dtypes
        and torch.backends.mkldnn.is_available()
        and bool(torch.backends.mkldnn.enabled)
        and not torch.is_autocast_enabled("cpu")
        and not _transformed()
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
        and all(p.dtype in dtypes and p.device.type == "cpu" for p in module.parameters())
        and not _hooked(module)
    )


def supported_conv(layer: nn.Module) -> bool:
    """Whether :func:`conv` / :func:`conv_transpose` compute ``layer`` (zero padding given as
    numbers)."""
    return (isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)) and layer.padding_mode == "zeros"
            and not isinstance(layer.padding, str))


def to_channels_last(x: Tensor) -> Tensor:
    """(B, C, T) -> a channels-last (B, C, 1, T) tensor that is never ``x``'s memory (callers
    write into it)."""
    out = x.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST)
    return out.clone(memory_format=CHANNELS_LAST) if out.data_ptr() == x.data_ptr() else out


def conv(layer: nn.Conv1d, x: Tensor) -> Tensor:
    """``layer`` on channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    return F.conv2d(x, layer.weight.unsqueeze(2), layer.bias, stride=(1, layer.stride[0]),
                    padding=(0, int(layer.padding[0])), dilation=(1, layer.dilation[0]),
                    groups=layer.groups)


def conv_transpose(layer: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """``layer`` (with an :class:`~audiogan.models.layers.ExactConvTranspose1d`'s trim) on
    channels-last x (B, C_in, 1, T) -> (B, C_out, 1, T')."""
    start, stride = int(layer.padding[0]), layer.stride[0]
    length = ((x.shape[-1] - 1) * stride - 2 * start + layer.kernel_size[0]
              + layer.output_padding[0] - int(getattr(layer, "trim", 0)))
    taps = -(-layer.kernel_size[0] // stride)
    if (1 < stride <= POLYPHASE_MAX_STRIDE and layer.groups == 1 and layer.dilation[0] == 1
            and start + length <= (x.shape[-1] + taps - 1) * stride):  # output_padding inside
        return polyphase(layer, x)[..., start : start + length]
    out = F.conv_transpose2d(
        x, layer.weight.unsqueeze(2), layer.bias, stride=(1, stride), padding=(0, start),
        output_padding=(0, layer.output_padding[0]), groups=layer.groups,
        dilation=(1, layer.dilation[0]))
    return out[..., :length]


def polyphase(layer: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """The full transposed conv of x (B, C_in, 1, T), channels-last, before its padding is cut:
    (B, C_out, 1, (T + taps - 1) * stride), as one ordinary conv.

    Output sample ``q * s + r`` of the full transposed conv (stride ``s``, kernel ``K``,
    ``taps = ceil(K / s)``) is ``sum_m x[q - m] W[:, :, m * s + r]``: a conv with ``taps`` taps
    and ``s * C_out`` output channels (channel ``r * C_out + c``) over x zero-padded by
    ``taps - 1`` on both sides. Channels-last, its (B, T + taps - 1, s * C_out) memory already
    is the interleaved (B, (T + taps - 1) * s, C_out) signal: a view, no shuffle.
    """
    stride, kernel = layer.stride[0], layer.kernel_size[0]
    c_in, c_out, _ = layer.weight.shape
    taps = -(-kernel // stride)
    weight = F.pad(layer.weight, (0, taps * stride - kernel)).view(c_in, c_out, taps, stride)
    weight = weight.flip(2).permute(3, 1, 0, 2).reshape(stride * c_out, c_in, 1, taps)
    bias = layer.bias.repeat(stride) if layer.bias is not None else None
    phases = F.conv2d(x, weight, bias, padding=(0, taps - 1)).contiguous(
        memory_format=CHANNELS_LAST)  # (B, s * C_out, 1, Q)
    batch, _, _, steps = phases.shape
    samples = steps * stride
    return phases.as_strided((batch, c_out, 1, samples),
                             (samples * c_out, 1, samples * c_out, c_out))
