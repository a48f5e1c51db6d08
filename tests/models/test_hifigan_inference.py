"""The HiFi-GAN generator's CPU inference forward (audiogan.models.hifigan_inference) gives
the reference forward's output in float32 and on the bfloat16 path with a float32 tail, and
stays out of autograd and export."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from audiogan.models import build_generator, hifigan_inference
from audiogan.models.hifigan import HiFiGANGenerator

N_MELS = 8


def make(**overrides: Any) -> HiFiGANGenerator:
    torch.manual_seed(0)
    params = {"preset": "v1", "in_channels": N_MELS, "upsample_initial_channel": 32,
              "upsample_rates": (4, 2, 2), "upsample_kernel_sizes": (8, 4, 4),
              "weight_norm": False, **overrides}
    generator = build_generator("hifigan", **params)
    with torch.no_grad():  # biases large enough that a dropped or doubled one would show
        for name, parameter in generator.named_parameters():
            if name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return generator.eval()


def mel(batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed))


def reference(generator: HiFiGANGenerator, x: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        assert not hifigan_inference.applies(generator, x)
        return generator(x).detach()


def fast(generator: HiFiGANGenerator, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        assert hifigan_inference.applies(generator, x)
        return generator(x)


def assert_close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype and b.is_contiguous()
    assert float(a.float().abs().max()) > 1e-3  # not silence
    assert float((a.float() - b.float()).abs().max()) <= tolerance


@pytest.mark.parametrize("overrides", [
    {},
    {"resblock": "2", "resblock_kernel_sizes": (3, 5), "resblock_dilation_sizes": ((1, 2), (2, 6))},
    {"upsample_rates": (8, 3), "upsample_kernel_sizes": (16, 7), "negative_slope": -0.05},
    {"weight_norm": True, "post_negative_slope": None},
])
@pytest.mark.parametrize("batch, frames", [(1, 1), (2, 11)])
def test_float32_equals_reference(overrides: dict[str, Any], batch: int, frames: int) -> None:
    """Strides 2-4 run as polyphase convs, 8 as a transposed conv; odd kernels; kind 2."""
    generator = make(**overrides)
    x = mel(batch, frames)
    out = fast(generator, x)
    assert out.shape == (batch, 1, frames * generator.hop_length)
    assert_close(reference(generator, x), out, 2e-6)


def test_bfloat16_with_a_float32_tail_equals_reference() -> None:
    """The policy's mixed path: same dtypes layer by layer, so the same audio to bf16
    rounding (a bf16 conv's accumulation order is the implementation's)."""
    generator = make().bfloat16()
    generator.keep_float32_tail(1)
    x = mel(2, 15).bfloat16()
    out = fast(generator, x)
    assert out.dtype == torch.float32
    assert_close(reference(generator, x), out, 2e-2)
    generator.float()  # one dtype again: the tail is over
    assert generator.float32_from == -1
    assert_close(reference(generator, x.float()), fast(generator, x.float()), 2e-6)


def test_the_callers_mel_is_never_written() -> None:
    generator = make(in_channels=1)
    x = torch.randn(1, 1, 1)
    kept = x.clone()
    out = fast(generator, x)
    assert torch.equal(x, kept)
    assert_close(reference(generator, x), out, 2e-6)


def test_not_used_for_autograd_other_dtypes_or_tracing() -> None:
    generator = make()
    x = mel(1, 6)
    assert generator(x).requires_grad  # grad enabled: the reference forward
    doubled = make().double()
    with torch.inference_mode():
        assert not hifigan_inference.applies(generator, x.double())
        assert not hifigan_inference.applies(doubled, x.double())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not hifigan_inference.applies(generator, x)
    with torch.no_grad():
        traced = torch.jit.trace(generator, x)
    graph = str(traced.inlined_graph)
    assert "aten::unsqueeze" not in graph and "aten::tanh(" in graph  # the reference's ops
    assert_close(fast(generator, x), traced(x), 2e-6)


@pytest.mark.parametrize("name", ["hifigan", "melgan", "istft"])
def test_forward_hooks_are_called_through_the_reference_forward(name: str) -> None:
    """An inference forward calls no submodule: with a hook on one (or a global hook), the
    reference forward runs so the hook sees its call."""
    torch.manual_seed(0)
    tiny: dict[str, dict[str, Any]] = {
        "hifigan": {"preset": "v1", "upsample_initial_channel": 16},
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
