"""The MelGAN body's CPU inference forward (audiogan.models.melgan_inference) gives the
reference forward's output for MelGAN and multi-band MelGAN, and stays out of autograd and
export."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from audiogan.models import build_generator, melgan_inference
from audiogan.models.base import Generator

N_MELS = 8
SHAPES: dict[str, dict[str, Any]] = {
    "melgan": {"channels": 32, "upsample_rates": (4, 4, 2)},
    "multiband_melgan": {"channels": 32, "upsample_rates": (4, 2, 2)},
}


def make(name: str, **overrides: Any) -> Generator:
    torch.manual_seed(0)
    params = {"in_channels": N_MELS, "weight_norm": False, **SHAPES[name], **overrides}
    generator = build_generator(name, **params)
    with torch.no_grad():  # biases large enough that a dropped or doubled one would show
        for parameter_name, parameter in generator.named_parameters():
            if parameter_name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return generator.eval()


def mel(batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed))


def reference(generator: Generator, x: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        assert not melgan_inference.applies(generator.body, x)
        return generator(x).detach()


def fast(generator: Generator, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        assert melgan_inference.applies(generator.body, x)
        return generator(x)


def assert_same_audio(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape and b.is_contiguous()
    assert float(a.abs().max()) > 1e-3  # not silence
    assert float((a - b).abs().max()) <= 2e-6


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("batch, frames", [(1, 1), (1, 2), (2, 9), (1, 40)])
def test_inference_forward_equals_reference(name: str, batch: int, frames: int) -> None:
    """Frames 1 and 2 are shorter than the input conv's and the first stack's reflection
    padding (the repeated-mirroring branch)."""
    generator = make(name)
    x = mel(batch, frames)
    out = fast(generator, x)
    assert out.shape == (batch, 1, frames * generator.hop_length)
    assert_same_audio(reference(generator, x), out)


@pytest.mark.parametrize("rates", [(4, 4, 2), (8, 1, 3)])
def test_negative_slope_odd_kernels_strides_and_weight_norm(rates: tuple[int, ...]) -> None:
    """Strides 2-4 run as polyphase convs, 1 and 8 as transposed convs (odd 3: taps that do
    not fill the kernel evenly)."""
    generator = make("melgan", negative_slope=-0.1, resstack_kernel_size=5, kernel_size=5,
                     weight_norm=True, upsample_rates=rates)
    for frames in (1, 13):
        x = mel(2, frames)
        assert_same_audio(reference(generator, x), fast(generator, x))


def test_the_callers_mel_is_never_written() -> None:
    """A single-mel-band, single-frame input is already channels-last: nothing may be done to
    it in place."""
    torch.manual_seed(0)
    generator = build_generator("melgan", in_channels=1, channels=16, upsample_rates=(2, 2),
                                weight_norm=False).eval()
    x = torch.randn(1, 1, 1)
    kept = x.clone()
    with torch.inference_mode():
        out = generator(x)
    assert torch.equal(x, kept)
    assert_same_audio(reference(generator, x), out)


def test_weight_changes_are_followed() -> None:
    generator = make("multiband_melgan")
    x = mel(1, 12)
    before = fast(generator, x)
    with torch.no_grad():
        generator.body.layers[1].weight.mul_(1.5)
    after = fast(generator, x)
    assert float((after - before).abs().max()) > 1e-4
    assert_same_audio(reference(generator, x), after)


def test_not_used_for_autograd_other_dtypes_or_tracing() -> None:
    generator = make("melgan")
    x = mel(1, 6)
    assert not melgan_inference.applies(generator.body, x)  # grad enabled
    assert generator(x).requires_grad
    with torch.inference_mode():
        assert not melgan_inference.applies(generator.body, x.double())
        assert not melgan_inference.applies(generator.double().body, x.double())
    generator.float()
    with torch.no_grad():
        traced = torch.jit.trace(generator, x)
    graph = str(traced.inlined_graph)
    assert "aten::tanh(" in graph and "aten::tanh_" not in graph  # the reference's ops
    assert "aten::unsqueeze" not in graph  # no (B, C, 1, T) views
    with torch.inference_mode():
        assert_same_audio(fast(generator, x), traced(x))


@pytest.mark.parametrize("name", ["melgan", "istft"])
def test_forward_hooks_are_called_through_the_reference_forward(name: str) -> None:
    """An inference forward calls no submodule: with a hook on one (or a global hook), the
    reference forward runs so the hook sees its call."""
    torch.manual_seed(0)
    tiny: dict[str, dict[str, Any]] = {
        "melgan": {"channels": 16},
        "istft": {"preset": "small", "dim": 16, "intermediate_dim": 24, "num_layers": 1},
    }
    generator = build_generator(name, in_channels=N_MELS, **tiny[name]).eval()
    x = mel(1, 4)
    seen: list[tuple[int, ...]] = []
    last_conv = [m for m in generator.modules() if isinstance(m, torch.nn.Conv1d)][-1]
    handle = last_conv.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
    with torch.inference_mode():
        hooked = generator(x)
    handle.remove()
    assert len(seen) == 1
    with torch.inference_mode():
        assert torch.allclose(generator(x), hooked, atol=1e-5)  # hook gone: inference forward
        assert len(seen) == 1
        calls: list[str] = []
        handle = torch.nn.modules.module.register_module_forward_hook(
            lambda module, _i, _o: calls.append(type(module).__name__))
        try:
            generator(x)
        finally:
            handle.remove()
    assert any(call.endswith("Conv1d") for call in calls)


def test_a_hook_on_the_called_module_itself_keeps_the_inference_forward() -> None:
    """Its own __call__ runs that hook: only hooks inside it send the call to the reference."""
    generator = make("melgan")
    x = mel(1, 5)
    calls: list[int] = []
    handle = generator.body.register_forward_hook(lambda _m, _i, _o: calls.append(1))
    try:
        with torch.inference_mode():
            assert melgan_inference.applies(generator.body, x)
            out = generator(x)
    finally:
        handle.remove()
    assert calls == [1]
    assert_same_audio(reference(generator, x), out)


@pytest.mark.parametrize(("kernel", "stride", "padding", "output_padding"),
                         [(4, 2, 0, 1), (4, 2, 1, 1), (6, 3, 0, 2), (8, 4, 2, 0), (5, 2, 0, 1)])
def test_transposed_convs_with_any_output_padding(kernel: int, stride: int, padding: int,
                                                   output_padding: int) -> None:
    """The polyphase form covers the samples output_padding adds past the last tap (review:
    with padding 0 and a kernel a multiple of the stride it came out one sample short)."""
    from audiogan.models.channels_last import conv_transpose, to_channels_last

    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose1d(6, 5, kernel, stride, padding, output_padding)
    x = torch.randn(2, 6, 7)
    with torch.inference_mode():
        want = layer(x)
        got = conv_transpose(layer, to_channels_last(x)).squeeze(2)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-6
