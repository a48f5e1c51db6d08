"""The ``istft`` generator's CPU inference forward: time-major, fused, the same audio.

:meth:`ISTFTGenerator.forward <audiogan.models.istft.ISTFTGenerator.forward>` runs this when
no gradient is recorded (``torch.inference_mode`` / ``torch.no_grad``) on float32 CPU tensors
outside tracing, scripting, exporting and ``torch.compile``; everywhere else it runs its
reference forward. Both compute the same function (max |diff| ~1e-6, tested); this one only
orders the work for a CPU:

- The backbone keeps ``(B, frames, dim)`` (time-major) from the first LayerNorm to the head,
  so no block transposes: the depthwise conv runs as a channels-last ``conv2d`` over a
  ``(B, dim, 1, frames)`` view of it, and the pointwise MLP reads it as a matrix.
- The Linears run as oneDNN products on weights packed once (``_reorder_linear_weight`` /
  ``_linear_pointwise``, the ops inductor's CPU fusions use) where this torch build has them
  and they give the reference values on a probe: ``Linear -> GELU`` applies GELU as it writes
  its output, and the layer scale is folded into the second product's weights, whose post-op
  adds the residual.
- The head's STFT stays time-major: ``irfft`` runs over the contiguous last dimension and the
  overlap-add sums hop blocks in place.

Measured with ``benchmarks/peers.py`` on 2 CPU threads (see the README's speed table).
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models.channels_last import (
    CHANNELS_LAST,
    conv,
    eager_cpu_inference,
    supported_conv,
)

if TYPE_CHECKING:
    from audiogan.models.istft import ConvNeXtBlock1d, InverseSTFT, ISTFTGenerator

__all__ = ["applies", "forward"]


def _depthwise_conv(conv: nn.Module, channels: int) -> bool:
    return (supported_conv(conv) and isinstance(conv, nn.Conv1d) and conv.groups == channels
            and conv.stride == (1,) and conv.dilation == (1,))


def _plain(generator: ISTFTGenerator) -> bool:
    """Whether the generator is made of the layers :func:`forward` computes (not, e.g.,
    quantised linears, replaced norms or reflection-padded convs; weight-normed ones are)."""
    blocks: list[ConvNeXtBlock1d] = list(generator.blocks)  # type: ignore[arg-type]
    linears = [generator.head] + [b.pwconv1 for b in blocks] + [b.pwconv2 for b in blocks]
    norms = [generator.norm, generator.final_norm] + [b.norm for b in blocks]
    embed = generator.embed
    return (
        all(isinstance(layer, nn.Linear) for layer in linears)
        and all(isinstance(norm, nn.LayerNorm) for norm in norms)
        and all(isinstance(block.act, nn.GELU) for block in blocks)
        and supported_conv(embed) and embed.stride == (1,) and embed.groups == 1
        and all(_depthwise_conv(block.dwconv, int(block.gamma.shape[0])) for block in blocks)
    )


def applies(generator: ISTFTGenerator, mel: Tensor) -> bool:
    """Whether :func:`forward` serves this call (no autograd, float32 CPU, eager, no forward
    hooks inside: :func:`~audiogan.models.channels_last.eager_cpu_inference`; the layers it
    knows)."""
    return (eager_cpu_inference(mel, generator, (torch.float32,))
            and generator.istft.cos_basis.dtype == torch.float32 and _plain(generator))


@functools.lru_cache(maxsize=1)
def _onednn_available() -> bool:
    """Whether this build has oneDNN's packed-weight linear ops and they match ``F.linear`` +
    ``F.gelu`` on a probe (otherwise the plain ops run)."""
    ops = getattr(torch.ops, "mkldnn", None)
    if ops is None or not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 16, generator=generator)
    weight = torch.randn(24, 16, generator=generator)
    bias = torch.randn(24, generator=generator)
    other = torch.randn(5, 24, generator=generator)
    try:
        with torch.inference_mode():
            packed = ops._reorder_linear_weight(weight, 5)
            fused = ops._linear_pointwise(x, packed, bias, "gelu", [], "none")
            added = ops._linear_pointwise.binary(x, other, packed, bias, "add")
    except (AttributeError, RuntimeError, TypeError, NotImplementedError):
        return False
    linear = F.linear(x, weight, bias)
    return bool(torch.allclose(fused, F.gelu(linear), atol=1e-4)
                and torch.allclose(added, other + linear, atol=1e-4))


class _Packed:
    """A Linear's weight (times an optional per-output scale) in oneDNN's packed layout, with
    the tensors and versions it was made from (a change to any of them repacks)."""

    def __init__(self, sources: tuple[Tensor, ...], weight: Tensor, bias: Tensor | None) -> None:
        self.sources = sources
        self.stamps = tuple((t.data_ptr(), t._version) for t in sources)
        self.weight = weight
        self.bias = bias

    def fresh(self, sources: tuple[Tensor, ...]) -> bool:
        """Whether ``sources`` are the same tensors, at the same memory (``p.data = ...`` and
        dtype round trips move it) and versions (in-place updates bump them)."""
        return len(sources) == len(self.sources) and all(
            a is b and (a.data_ptr(), a._version) == stamp
            for a, b, stamp in zip(sources, self.sources, self.stamps))


_PACKS: weakref.WeakKeyDictionary[nn.Module, _Packed] = weakref.WeakKeyDictionary()
_PACKS_LOCK = threading.Lock()


#: The row count oneDNN lays packed weights out for (fixed, so speed does not depend on which
#: call came first; any row count computes the same values).
_ROWS_HINT = 1024


def _packed(linear: nn.Linear, scale: Tensor | None = None) -> _Packed:
    """``linear``'s packed weight and bias (both multiplied by ``scale`` (out,) if given), made
    once and reused while ``linear``'s parameters and buffers (weight-norm and other
    parametrisations' included) and ``scale`` are the same tensors, at the same memory and
    versions: an optimiser step, ``load_state_dict``, ``p.data = ...`` or a dtype round trip
    repacks. Not seen: writes through ``p.data`` (``p.data.mul_()``), whose version counter is
    not ``p``'s; call ``load_state_dict`` or assign ``p.data`` instead. The packed copy stays
    with the module (about +54 MB for the ``base`` preset)."""
    sources = tuple(linear.parameters()) + tuple(linear.buffers())
    sources += (scale,) if scale is not None else ()
    with _PACKS_LOCK:
        cached = _PACKS.get(linear)
    if cached is not None and cached.fresh(sources):
        return cached
    weight: Tensor = linear.weight.detach()
    bias: Tensor | None = linear.bias.detach() if linear.bias is not None else None
    if scale is not None:
        weight = weight * scale.detach()[:, None]
        bias = bias * scale.detach() if bias is not None else None
    packed = _Packed(sources, torch.ops.mkldnn._reorder_linear_weight(weight, _ROWS_HINT), bias)
    with _PACKS_LOCK:
        _PACKS[linear] = packed
    return packed


def _linear(linear: nn.Linear, x: Tensor, post: str = "none") -> Tensor:
    """``linear`` on x (N, in) -> (N, out), then ``post``: ``"none"`` or ``"gelu"`` (exact
    GELU)."""
    if _onednn_available():
        packed = _packed(linear)
        return torch.ops.mkldnn._linear_pointwise(x, packed.weight, packed.bias, post, [],
                                                  "none" if post == "gelu" else "")
    out = F.linear(x, linear.weight, linear.bias)
    return F.gelu(out) if post == "gelu" else out


def _scaled_residual(linear: nn.Linear, scale: Tensor, h: Tensor, x: Tensor) -> Tensor:
    """x + scale * linear(h): h (N, in), x (N, out) -> (N, out) (x itself may be updated)."""
    if _onednn_available():
        packed = _packed(linear, scale)
        return torch.ops.mkldnn._linear_pointwise.binary(h, x, packed.weight, packed.bias, "add")
    return x.addcmul_(scale, F.linear(h, linear.weight, linear.bias))


def _time_major(x: Tensor) -> Tensor:
    """Channels-last (B, C, 1, T) -> time-major (B, T, C), contiguous: a view, as oneDNN's
    convs keep the channels-last layout."""
    return x.squeeze(2).permute(0, 2, 1).contiguous()


def _depthwise(x: Tensor, dwconv: nn.Conv1d) -> Tensor:
    """Depthwise ``dwconv`` over time on time-major x: (B, T, C) -> (B, T, C) contiguous
    (``x.permute(0, 2, 1).unsqueeze(2)`` is a channels-last (B, C, 1, T) view, no copy)."""
    return _time_major(conv(dwconv, x.permute(0, 2, 1).unsqueeze(2)))


def _block(block: ConvNeXtBlock1d, x: Tensor) -> Tensor:
    """One ConvNeXt block on time-major x (B, T, C) -> (B, T, C) (x may be updated in place)."""
    batch, frames, dim = x.shape
    h = _depthwise(x, block.dwconv)
    h = F.layer_norm(h, (dim,), block.norm.weight, block.norm.bias, block.norm.eps)
    rows = batch * frames
    if block.act.approximate == "none":
        h = _linear(block.pwconv1, h.view(rows, dim), "gelu")
    else:
        h = F.gelu(_linear(block.pwconv1, h.view(rows, dim)), approximate=block.act.approximate)
    return _scaled_residual(block.pwconv2, block.gamma, h, x.view(rows, dim)).view(x.shape)


def _inverse_stft(istft: InverseSTFT, real: Tensor, imag: Tensor) -> Tensor:
    """:class:`~audiogan.models.istft.InverseSTFT` on time-major parts (B, T, n_freq) each
    -> wave (B, T * hop)."""
    batch, frames, _ = real.shape
    hop, blocks = istft.hop_length, istft.num_blocks
    spectrum = torch.complex(real, imag)
    frame_samples = torch.fft.irfft(spectrum, n=istft.n_fft, dim=-1)  # (B, T, n_fft)
    frame_samples.mul_(istft.window.view(-1))
    if istft.pad_frames > 0:
        frame_samples = F.pad(frame_samples, (0, istft.pad_frames))
    pieces = frame_samples.view(batch, frames, blocks, hop)
    signal = real.new_zeros(batch, frames + blocks - 1, hop)
    for index in range(blocks):
        signal[:, index : index + frames].add_(pieces[:, :, index])
    envelope = istft._trim(istft._envelope(signal.new_ones(1, frames)))
    return istft._trim(signal.view(batch, -1)) / envelope


def forward(generator: ISTFTGenerator, mel: Tensor) -> Tensor:
    """The generator's output for ``mel`` (B, n_mels, frames) -> wave (B, 1, frames * hop),
    computed time-major (see the module docstring); call only where :func:`applies`."""
    x = _time_major(conv(generator.embed,
                         mel.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST)))
    norm = generator.norm
    x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    for block in generator.blocks:
        x = _block(block, x)  # type: ignore[arg-type]
    final = generator.final_norm
    x = F.layer_norm(x, final.normalized_shape, final.weight, final.bias, final.eps)
    batch, frames, dim = x.shape
    x = _linear(generator.head, x.view(batch * frames, dim)).view(batch, frames, -1)
    n_freq = generator.istft.n_freq
    magnitude = torch.exp(x[..., :n_freq].clamp(max=generator.log_max_magnitude))
    phase = x[..., n_freq:].contiguous()  # sin / cos vectorise over contiguous memory only
    real = torch.cos(phase).mul_(magnitude)
    imag = phase.sin_().mul_(magnitude)
    return _inverse_stft(generator.istft, real, imag).unsqueeze(1)
