"""The HiFi-GAN generator's CPU inference forward: channels-last convolutions, the same audio.

:meth:`HiFiGANGenerator.forward <audiogan.models.hifigan.HiFiGANGenerator.forward>` runs this
when no gradient is recorded (``torch.inference_mode`` / ``torch.no_grad``) on float32 or
bfloat16 CPU tensors outside tracing, scripting, exporting and ``torch.compile``; everywhere
else it runs its reference forward. Both compute the same function, layer by layer in the same
dtypes (the bfloat16 path with its float32 tail included), so the outputs agree to float
rounding (tested).

Every activation is a channels-last ``(B, C, 1, T)`` tensor (:mod:`audiogan.models.channels_last`):
oneDNN's convolutions read and write it without reordering, which at V1's 32-256 channels over
tens of thousands of samples per second of audio is most of the gain. The leaky ReLUs run in
place on tensors this forward made, each residual unit is added in place into its output, and
stride 2-4 transposed convs run as one polyphase conv.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models.channels_last import (
    conv,
    conv_transpose,
    eager_cpu_inference,
    supported_conv,
    to_channels_last,
)

if TYPE_CHECKING:
    from audiogan.models.hifigan import MRF, HiFiGANGenerator, ResBlock

__all__ = ["applies", "forward"]

_DTYPES = (torch.float32, torch.bfloat16)


def applies(generator: HiFiGANGenerator, mel: Tensor) -> bool:
    """Whether :func:`forward` serves this call (no autograd, float32 / bfloat16 CPU, eager,
    oneDNN)."""
    return (mel.dim() == 3 and eager_cpu_inference(mel, generator, _DTYPES)
            and all(supported_conv(module) for module in generator.modules()
                    if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d))))


def _resblock(block: ResBlock, x: Tensor) -> Tensor:
    """One :class:`~audiogan.models.hifigan.ResBlock` on channels-last x (B, C, 1, T); x is
    left as it is."""
    for unit in block.units:
        h = x
        for layer in unit:  # type: ignore[attr-defined]
            if isinstance(layer, nn.LeakyReLU):
                h = F.leaky_relu(h, layer.negative_slope, inplace=h is not x)
            else:
                h = conv(layer, h)
        x = h.add_(x)
    return x


def _mrf(mrf: MRF, x: Tensor) -> Tensor:
    """:class:`~audiogan.models.hifigan.MRF` on channels-last x (B, C, 1, T)."""
    total = _resblock(mrf.blocks[0], x)  # type: ignore[arg-type]
    for block in mrf.blocks[1:]:
        total = total.add_(_resblock(block, x))  # type: ignore[arg-type]
    return total.div_(len(mrf.blocks))


def forward(generator: HiFiGANGenerator, mel: Tensor) -> Tensor:
    """The generator's output for ``mel`` (B, n_mels, frames) -> wave (B, 1, frames * hop);
    call only where :func:`applies`."""
    x = conv(generator.conv_pre, to_channels_last(mel))
    slope = generator.activation.negative_slope
    for stage, (upsample, mrf) in enumerate(zip(generator.upsamples, generator.mrfs)):
        x = F.leaky_relu(x, slope, inplace=True)
        if stage == generator.float32_from:  # mixed precision: the float32 tail starts here
            x = x.float()
        x = _mrf(mrf, conv_transpose(upsample, x))  # type: ignore[arg-type]
    x = F.leaky_relu(x, generator.post_negative_slope, inplace=True)
    return conv(generator.conv_post, x).tanh_().squeeze(2).contiguous()
