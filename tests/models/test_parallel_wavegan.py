"""The Parallel WaveGAN generator: shapes, receptive field, noise, export, training, and parity
with kan-bayashi/ParallelWaveGAN's ``ParallelWaveGANGenerator`` (skipped without .refs)."""

from __future__ import annotations

import copy
import io
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from audiogan.inference.imports.pwg_wavenet import (
    convert_parallel_wavegan,
    parallel_wavegan_params,
)
from audiogan.models import GENERATORS, build_generator
from audiogan.models.layers import has_weight_norm
from audiogan.models.parallel_wavegan import ParallelWaveGAN, receptive_field_frames
from audiogan.models.randomness import keyed_noise
from tests.refs_helpers import pwg_reference

SMALL: dict[str, Any] = {"in_channels": 6, "layers": 4, "stacks": 2, "residual_channels": 8,
                         "gate_channels": 12, "skip_channels": 6, "upsample_scales": (4, 4)}


def small(**overrides: Any) -> ParallelWaveGAN:
    torch.manual_seed(0)
    model = ParallelWaveGAN(**{**SMALL, **overrides})
    model.remove_weight_norm()
    return model.eval()


def test_registered_as_a_noise_driven_mel_generator() -> None:
    assert GENERATORS.get("parallel_wavegan") is ParallelWaveGAN
    model = build_generator("parallel_wavegan", in_channels=80)
    assert (model.input_kind, model.noise_channels, model.hop_length) == ("mel", 1, 256)
    assert has_weight_norm(model)
    model.remove_weight_norm()
    assert not has_weight_norm(model)
    # the reference's 1,334,309 (folded), less the last block's unused residual 1x1 (64 x 64 + 64)
    assert sum(p.numel() for p in model.parameters()) == 1_334_309 - 4_160


@pytest.mark.parametrize("scales", [(4, 4, 4, 4), (5, 5, 4, 3), (8, 8, 4)])
def test_output_is_frames_times_hop(scales: tuple[int, ...]) -> None:
    model = small(upsample_scales=scales)
    assert model.hop_length == math.prod(scales)
    for frames in (1, 3, 7):
        with torch.no_grad():
            wave = model(torch.randn(2, 6, frames))
        assert wave.shape == (2, 1, frames * math.prod(scales))
        assert torch.isfinite(wave).all()


@pytest.mark.parametrize("overrides", [{}, {"upsample_scales": (5, 3), "aux_context_window": 0},
                                       {"layers": 6, "stacks": 3, "kernel_size": 5,
                                        "aux_context_window": 3}])
def test_receptive_field_covers_every_influence(overrides: dict[str, Any]) -> None:
    """Change one mel frame in the middle of a long input: only output frames within the
    declared receptive field change, and the farthest one is at the declared distance (the
    bound is tight)."""
    model = small(**overrides)
    frames, middle, hop = 61, 30, model.hop_length
    mel = torch.randn(1, 6, frames)
    noise = torch.randn(1, 1, frames * hop)
    bumped = mel.clone()
    bumped[..., middle] += 1.0
    with torch.no_grad():
        change = (model(bumped, noise) - model(mel, noise)).abs().reshape(frames, hop)
    changed = (change.amax(dim=1) > 0).nonzero().flatten()
    reach = int(max(middle - changed.min(), changed.max() - middle))
    assert 0 < reach == model.receptive_field_frames < middle


def test_receptive_field_of_the_release_shape() -> None:
    # 3 stacks of dilations 1..512 reach 3069 samples either side; walking back through the
    # four stretch stages (each reaching one input sample either side) gives 14 frames, and
    # conv_in adds 2
    assert receptive_field_frames(30, 3, 3, 2, (4, 4, 4, 4)) == 16
    assert ParallelWaveGAN().receptive_field_frames == 16


def test_default_noise_is_keyed_noise_seed_0_for_every_item() -> None:
    model = small()
    mel = torch.randn(3, 6, 5)
    noise = keyed_noise(0, 0, 5 * 16).expand(3, 1, -1)
    with torch.no_grad():
        assert torch.equal(model(mel), model(mel, noise))


def test_the_noise_drives_the_output() -> None:
    model = small()
    mel = torch.randn(2, 6, 5)
    one, other = torch.randn(2, 1, 80), torch.randn(2, 1, 80)
    with torch.no_grad():
        assert torch.equal(model(mel, one), model(mel, one.clone()))
        assert (model(mel, one) - model(mel, other)).abs().amax() > 1e-3
    for wrong in ((2, 1, 79), (1, 1, 80), (2, 2, 80)):
        with pytest.raises(ValueError, match=r"noise must be \(2, 1, 80\) for a mel of shape"):
            model(mel, torch.randn(*wrong))


def test_batch_items_are_independent() -> None:
    model = small()
    mel, noise = torch.randn(3, 6, 5), torch.randn(3, 1, 80)
    with torch.no_grad():
        whole = model(mel, noise)
        for i in range(3):
            torch.testing.assert_close(model(mel[i:i + 1], noise[i:i + 1]), whole[i:i + 1],
                                       atol=1e-6, rtol=0)


def test_weight_norm_and_training_mode_leave_the_function_alone() -> None:
    torch.manual_seed(0)
    normed = ParallelWaveGAN(**SMALL)
    mel, noise = torch.randn(2, 6, 4), torch.randn(2, 1, 64)
    with torch.no_grad():
        before = normed(mel, noise)  # training mode, dropout 0
        folded = copy.deepcopy(normed)
        folded.remove_weight_norm()
        torch.testing.assert_close(folded.eval()(mel, noise), before, atol=1e-6, rtol=0)
    dropped = ParallelWaveGAN(**SMALL, dropout=0.5).train()
    with torch.no_grad():
        assert not torch.equal(dropped(mel, noise), dropped(mel, noise))
        dropped.eval()
        assert torch.equal(dropped(mel, noise), dropped(mel, noise))


def test_torchscript_and_onnx_reproduce_the_module(tmp_path: Path) -> None:
    model = small()
    mel, noise = torch.randn(2, 6, 5), torch.randn(2, 1, 80)
    other_mel, other_noise = torch.randn(3, 6, 9), torch.randn(3, 1, 144)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model(other_mel, other_noise)
        traced = torch.jit.trace(model, (mel, noise), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        reloaded = torch.jit.load(io.BytesIO(buffer.getvalue()))
        torch.testing.assert_close(reloaded(other_mel, other_noise), expected,
                                   atol=1e-5, rtol=0)
        ort = pytest.importorskip("onnxruntime")
        path = tmp_path / "pwg.onnx"
        torch.onnx.export(model, (mel, noise), str(path), dynamo=False, opset_version=17,
                          input_names=["mel", "noise"], output_names=["wave"],
                          dynamic_axes={"mel": {0: "batch", 2: "frames"},
                                        "noise": {0: "batch", 2: "samples"},
                                        "wave": {0: "batch", 2: "samples"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (wave,) = session.run(None, {"mel": other_mel.numpy(), "noise": other_noise.numpy()})
    torch.testing.assert_close(torch.from_numpy(wave), expected, atol=1e-4, rtol=0)


def test_a_tiny_model_fits_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = ParallelWaveGAN(**SMALL)  # weight norm on, as in training
    mel, noise = torch.randn(2, 6, 8), torch.randn(2, 1, 128)
    t = torch.arange(128) / 128
    target = torch.stack([torch.sin(2 * math.pi * 4 * t), 0.5 * torch.sin(2 * math.pi * 7 * t)])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = (model(mel, noise)[:, 0] - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] * 4 < losses[0], losses[::25]
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_trains_under_bf16_autocast() -> None:
    """AMP (training.precision bf16): the in-place accumulations give way to autocast's."""
    torch.manual_seed(0)
    model = ParallelWaveGAN(**SMALL)
    mel, noise = torch.randn(2, 6, 4), torch.randn(2, 1, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wave = model(mel, noise)
    wave.float().square().mean().backward()
    with torch.no_grad():
        exact = model(mel, noise)
    assert wave.shape == exact.shape
    assert float((wave.float() - exact).abs().max()) <= 0.05 * float(exact.abs().max())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("bad, match", [
    ({"layers": 5, "stacks": 2}, "layers .5. must be a multiple of stacks"),
    ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"gate_channels": 7}, "gate_channels must be even"),
    ({"upsample_scales": ()}, "upsample_scales must be a non-empty"),
    ({"upsample_scales": (4, 0)}, "upsample_scales must be a non-empty"),
    ({"aux_context_window": -1}, "aux_context_window must be >= 0"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"residual_channels": 0}, "residual_channels must be >= 1"),
    # values a YAML file can hold that are not what the key needs: refused, never rounded or
    # read as true
    ({"upsample_scales": (4, 4, 4, 4.5)}, "upsample_scales must be a non-empty list of integers"),
    ({"upsample_scales": 4}, "upsample_scales must be a non-empty list of integers"),
    ({"layers": 4.0}, r"layers must be >= 1 \(an integer\), got 4.0"),
    ({"aux_context_window": 1.5}, r"aux_context_window must be >= 0 \(an integer\)"),
    ({"dropout": "0.1"}, r"dropout must be in \[0, 1\), got '0.1'"),
    ({"bias": "no"}, "bias must be true or false, got 'no'"),
    ({"weight_norm": "no"}, "weight_norm must be true or false, got 'no'"),
])
def test_impossible_shapes_are_one_line_errors(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        ParallelWaveGAN(**{**SMALL, **bad})
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------- reference parity


def _reference() -> Any:
    return pwg_reference().ParallelWaveGANGenerator


REFERENCE_SHAPES: list[dict[str, Any]] = [
    {},  # the release (v1) shape
    {"layers": 6, "stacks": 2, "residual_channels": 8, "gate_channels": 12, "skip_channels": 6,
     "aux_channels": 5, "aux_context_window": 1, "kernel_size": 5, "bias": False,
     "upsample_params": {"upsample_scales": [5, 3]}},
    {"layers": 4, "stacks": 4, "residual_channels": 4, "gate_channels": 8, "skip_channels": 10,
     "aux_channels": 3, "aux_context_window": 0, "use_weight_norm": False,
     "upsample_params": {"upsample_scales": [2, 3, 2]}},
]


@pytest.mark.parametrize("params", REFERENCE_SHAPES, ids=["v1", "small_no_bias", "plain"])
def test_matches_the_reference_generator(params: dict[str, Any]) -> None:
    reference_class = _reference()
    torch.manual_seed(1)
    reference = reference_class(**copy.deepcopy(params))
    with torch.no_grad():  # move every parameter (weight-norm gains too) off its initial value
        for parameter in reference.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    reference.eval()
    gen = parallel_wavegan_params(params, Path("config.yml"))
    ours = ParallelWaveGAN(**gen, weight_norm=False)
    ours.load_state_dict(convert_parallel_wavegan(reference.state_dict(), gen,
                                                  Path("checkpoint-1steps.pkl")))
    ours.eval()
    frames = 6
    mel = torch.randn(frames, gen["in_channels"])
    noise = torch.randn(frames * ours.hop_length, 1)
    with torch.no_grad():
        expected = reference.inference(mel, x=noise)[:, 0]
        got = ours(mel.T[None], noise.T[None])[0, 0]
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert expected.abs().amax() > 0.1  # not a vacuous comparison
