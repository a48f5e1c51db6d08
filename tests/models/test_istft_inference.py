"""The istft generator's CPU inference forward (audiogan.models.istft_inference) gives the
reference forward's output, follows weight changes, and stays out of autograd and export."""

from __future__ import annotations

import pytest
import torch

from audiogan.models import build_generator, istft_inference
from audiogan.models.istft import ISTFTGenerator
from audiogan.models.layers import apply_weight_norm

N_MELS = 12


def make(**overrides: object) -> ISTFTGenerator:
    torch.manual_seed(0)
    params = {"preset": "small", "in_channels": N_MELS, "dim": 32, "intermediate_dim": 48,
              "num_layers": 2, **overrides}
    generator = build_generator("istft", **params)
    # Non-trivial norms, layer scales and biases, so that a dropped term would show.
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith(("bias", "gamma")) or ".norm." in name or "final_norm" in name:
                parameter.add_(0.3 * torch.randn_like(parameter))
    return generator.eval()


def mel(batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed))


def reference(generator: ISTFTGenerator, x: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():  # autograd on: the reference forward
        assert not istft_inference.applies(generator, x)
        return generator(x).detach()


def fast(generator: ISTFTGenerator, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        assert istft_inference.applies(generator, x)
        return generator(x)


def assert_same_audio(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    scale = float(a.abs().max())
    assert scale > 1e-3  # not silence
    assert float((a - b).abs().max()) <= 1e-5 * max(1.0, scale)


@pytest.mark.parametrize("overrides", [
    {},
    {"padding": "center"},
    {"n_fft": 60, "hop_length": 16, "win_length": 40},  # n_fft not a multiple of hop
    {"n_fft": 64, "hop_length": 16, "kernel_size": 5},
])
@pytest.mark.parametrize("batch, frames", [(1, 1), (1, 37), (3, 20)])
def test_inference_forward_equals_reference(overrides: dict, batch: int, frames: int) -> None:
    generator = make(**overrides)
    x = mel(batch, frames)
    out = fast(generator, x)
    assert out.shape == (batch, 1, frames * generator.hop_length)
    assert_same_audio(reference(generator, x), out)


@pytest.mark.parametrize("onednn", [True, False])
def test_plain_ops_give_the_same_audio(monkeypatch: pytest.MonkeyPatch, onednn: bool) -> None:
    """A torch build without oneDNN's linear ops (or one whose probe disagrees) runs F.linear."""
    if onednn and not istft_inference._onednn_available():
        pytest.skip("this torch build has no oneDNN linear ops")
    monkeypatch.setattr(istft_inference, "_onednn_available", lambda: onednn)
    generator = make()
    x = mel(2, 25)
    assert_same_audio(reference(generator, x), fast(generator, x))


def test_weight_changes_are_followed() -> None:
    """Packed weights are remade when the parameters change in place (optimiser step,
    load_state_dict) or are replaced: no stale output."""
    generator = make()
    x = mel(1, 30)
    fast(generator, x)  # packs
    optimiser = torch.optim.SGD(generator.parameters(), lr=0.5)
    generator(x).square().mean().backward()
    optimiser.step()  # in place: versions bump
    assert_same_audio(reference(generator, x), fast(generator, x))
    other = make(num_layers=2)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(1.5)
    generator.load_state_dict(other.state_dict())
    assert_same_audio(reference(other, x), fast(generator, x))
    block = generator.blocks[0]
    block.gamma = torch.nn.Parameter(block.gamma.detach() * -2.0)  # a new tensor
    assert_same_audio(reference(generator, x), fast(generator, x))


def test_weight_norm_parametrised_generator() -> None:
    """Under no_grad during training (validation), weight-normed layers are read through
    their parametrisation; a step on g / v is seen by the next call."""
    generator = make()
    apply_weight_norm(generator)
    x = mel(2, 18)
    with torch.no_grad():
        first = generator(x)
        assert istft_inference.applies(generator, x)
    assert_same_audio(reference(generator, x), first)
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if "original" in name:
                parameter.mul_(1.1)
        second = generator(x)
    assert float((second - first).abs().max()) > 1e-4
    assert_same_audio(reference(generator, x), second)


def test_not_used_for_autograd_other_dtypes_or_tracing() -> None:
    generator = make()
    x = mel(1, 10)
    assert not istft_inference.applies(generator, x)  # grad enabled
    out = generator(x)
    assert out.requires_grad
    with torch.inference_mode():
        assert not istft_inference.applies(generator, x.double())
        assert not istft_inference.applies(generator.double(), x.double())
    generator.float()
    with torch.no_grad():
        traced = torch.jit.trace(generator, x)  # the reference graph: real-valued ops only
    graph = str(traced.inlined_graph)
    assert "mkldnn::_linear_pointwise" not in graph and "aten::fft" not in graph
    with torch.inference_mode():
        assert_same_audio(fast(generator, x), traced(x))


def test_alternating_lengths_and_packed_weights_made_once() -> None:
    generator = make(padding="center")
    for frames in (5, 9, 5, 1, 9):
        x = mel(1, frames, seed=frames)
        assert_same_audio(reference(generator, x), fast(generator, x))
    packs = [istft_inference._PACKS.get(layer) for layer in (generator.head,
                                                              generator.blocks[0].pwconv1)]
    if istft_inference._onednn_available():
        assert all(pack is not None for pack in packs)
        fast(generator, mel(1, 7))
        assert istft_inference._PACKS.get(generator.head) is packs[0]  # reused, not repacked


def test_replaced_data_and_dtype_round_trips_repack() -> None:
    """``p.data = ...`` and ``.bfloat16().float()`` keep the parameter objects and their
    versions but move their memory: the packed weights must follow (review finding)."""
    generator = make()
    x = mel(1, 12)
    fast(generator, x)
    head = generator.head
    head.weight.data = head.weight.data * 1.7
    assert_same_audio(reference(generator, x), fast(generator, x))
    torch.nn.utils.vector_to_parameters(
        torch.nn.utils.parameters_to_vector(generator.parameters()) * 0.9,
        generator.parameters())
    assert_same_audio(reference(generator, x), fast(generator, x))
    generator.bfloat16()
    generator.float()  # float32 values of bf16-rounded weights, in new memory
    assert_same_audio(reference(generator, x), fast(generator, x))


def test_layers_it_does_not_know_take_the_reference_forward() -> None:
    """Quantised linears, reflection-padded convs, a functorch transform or oneDNN switched
    off: the reference forward runs (and gives its own output)."""
    x = mel(1, 9)
    padded = make()
    padded.embed.padding_mode = "reflect"
    with torch.inference_mode():
        assert not istft_inference.applies(padded, x)
    quantised = torch.ao.quantization.quantize_dynamic(make(), {torch.nn.Linear})
    with torch.inference_mode():
        assert not istft_inference.applies(quantised, x)
        assert quantised(x).shape == (1, 1, 9 * quantised.hop_length)
    generator = make()
    with torch.no_grad():
        batched = torch.func.vmap(generator)(x.unsqueeze(0))
        assert_same_audio(reference(generator, x), batched[0])
        with torch.backends.mkldnn.flags(enabled=False):
            assert not istft_inference.applies(generator, x)
