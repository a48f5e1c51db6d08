"""Parallel WaveGAN's discriminators (``parallel_wavegan``, ``residual_parallel_wavegan``): one
score per sample, dilations and receptive field as documented, equal to parallel-wavegan
0.6.1's on the same weights, weight-norm removal, dropout, parameter errors, a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from refs_helpers import pwg_reference, randomise_weight_norm_state
from training_helpers import _write_corpus, vocoder_config

from audiogan.config.checks import check_discriminator
from audiogan.core.errors import AudioganError
from audiogan.inference.imports.pwg_discriminators import pwg_discriminator
from audiogan.models import build_discriminator
from audiogan.models.layers import has_weight_norm
from audiogan.models.pwg_discriminator import (
    ParallelWaveGANDiscriminator,
    ResidualParallelWaveGANDiscriminator,
)

SMALL_PLAIN: dict[str, Any] = {"layers": 5, "channels": 8}
SMALL_RESIDUAL: dict[str, Any] = {"layers": 6, "stacks": 2, "residual_channels": 8,
                                  "gate_channels": 12, "skip_channels": 6}


def _wave(length: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return 0.5 * torch.randn(batch, 1, length, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("length", [1, 7, 256, 1001])
@pytest.mark.parametrize("name, params", [("parallel_wavegan", SMALL_PLAIN),
                                          ("residual_parallel_wavegan", SMALL_RESIDUAL)])
def test_one_score_per_sample_and_the_feature_maps(name: str, params: dict, length: int) -> None:
    disc = build_discriminator(name, **params).eval()
    out = disc(_wave(length))
    assert len(out.logits) == len(out.features) == len(disc.names) == 1
    assert out.logits[0].shape == (2, 1, length)
    maps = out.features[0]
    assert maps[-1] is out.logits[0]
    if name == "parallel_wavegan":  # every hidden conv's activation, then the logits
        assert [m.shape for m in maps[:-1]] == [(2, 8, length)] * 4
    else:  # first activation, the residual output of each block but the last (it feeds
        # nothing: no conv makes it), the head's activation, logits
        assert [m.shape for m in maps[:-1]] == [(2, 8, length)] * 6 + [(2, 6, length)]
    torch.testing.assert_close(disc(_wave(length).squeeze(1)).logits[0], out.logits[0])


def test_dilations_as_the_reference_documents() -> None:
    assert ParallelWaveGANDiscriminator().dilations == [1, 1, 2, 3, 4, 5, 6, 7, 8, 1]
    assert ParallelWaveGANDiscriminator(6, dilation_factor=2).dilations == [1, 2, 4, 8, 16, 1]
    assert ParallelWaveGANDiscriminator(2).dilations == [1, 1]
    default = ParallelWaveGANDiscriminator()
    convs = [*default.convs, default.post]
    assert [conv.dilation[0] for conv in convs] == default.dilations
    assert [conv.padding[0] for conv in convs] == default.dilations  # kernel 3: d each side
    assert default.receptive_field == 2 * (1 + 36 + 1) + 1  # dilations sum to 38
    residual = ResidualParallelWaveGANDiscriminator()
    assert residual.dilations == [2 ** i for i in range(10)] * 3
    assert [block.conv.dilation[0] for block in residual.blocks] == residual.dilations
    assert residual.receptive_field == 2 * 3 * 1023 + 1


@pytest.mark.parametrize("name, params", [
    ("parallel_wavegan", {}),
    ("parallel_wavegan", {"layers": 5, "channels": 4, "kernel_size": 5, "dilation_factor": 3}),
    ("residual_parallel_wavegan", {**SMALL_RESIDUAL, "kernel_size": 5}),
])
def test_receptive_field_is_the_span_one_score_depends_on(name: str, params: dict) -> None:
    torch.manual_seed(0)
    disc = build_discriminator(name, **params).double().eval()
    field = disc.receptive_field
    length, centre = 2 * field + 41, field + 20
    wave = torch.randn(1, 1, length, dtype=torch.float64, requires_grad=True)
    disc(wave).logits[0][0, 0, centre].backward()
    assert wave.grad is not None
    reached = wave.grad[0, 0].nonzero().flatten()
    assert int(reached.min()) == centre - field // 2
    assert int(reached.max()) == centre + field // 2


@pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm:FutureWarning")  # reference
@pytest.mark.parametrize("kind, params", [
    ("ParallelWaveGANDiscriminator", {}),
    ("ParallelWaveGANDiscriminator", {"layers": 6, "conv_channels": 16, "dilation_factor": 2,
                                      "kernel_size": 5, "bias": False,
                                      "nonlinear_activation_params": {"negative_slope": 0.1}}),
    ("ResidualParallelWaveGANDiscriminator", {"layers": 6, "stacks": 2, "residual_channels": 16,
                                              "gate_channels": 24, "skip_channels": 8}),
    ("ResidualParallelWaveGANDiscriminator", {"layers": 4, "stacks": 1, "residual_channels": 8,
                                              "gate_channels": 8, "skip_channels": 8,
                                              "kernel_size": 5, "bias": False}),
])
def test_equal_to_the_reference_on_its_converted_weights(kind: str, params: dict) -> None:
    models = pwg_reference()
    reference = getattr(models, kind)(**params).eval()
    randomise_weight_norm_state(reference, 3)
    config, weights, note = pwg_discriminator(
        {"discriminator_type": kind, "discriminator_params": params},
        reference.state_dict(), Path("checkpoint-1steps.pkl"))
    assert weights is not None, note
    ours = build_discriminator(config["name"], **config["params"]).eval()
    ours.load_state_dict(weights)
    wave = _wave(1500, seed=4)
    with torch.no_grad():
        expected, got = reference(wave), ours(wave).logits[0]
    assert got.shape == expected.shape == (2, 1, 1500)
    assert float((got - expected).abs().max()) <= 1e-5 * max(1.0, float(expected.abs().max()))


@pytest.mark.parametrize("name, params", [("parallel_wavegan", SMALL_PLAIN),
                                          ("residual_parallel_wavegan", SMALL_RESIDUAL)])
def test_removing_weight_norm_keeps_the_scores(name: str, params: dict) -> None:
    torch.manual_seed(1)
    disc = build_discriminator(name, **params).eval()
    parametrised = sum(1 for m in disc.modules() if isinstance(m, torch.nn.Conv1d))
    assert parametrised == (5 if name == "parallel_wavegan" else 1 + 3 * 6 - 1 + 2)
    wave = _wave(777)
    before = disc(wave).logits[0]
    assert has_weight_norm(disc)
    disc.remove_weight_norm()
    assert not has_weight_norm(disc)
    torch.testing.assert_close(disc(wave).logits[0], before, rtol=1e-5, atol=1e-5)


def test_residual_dropout_acts_while_training_only() -> None:
    torch.manual_seed(2)
    dropped = build_discriminator("residual_parallel_wavegan", **SMALL_RESIDUAL, dropout=0.5)
    plain = build_discriminator("residual_parallel_wavegan", **SMALL_RESIDUAL)
    plain.load_state_dict(dropped.state_dict())
    wave = _wave(300)
    torch.manual_seed(0)
    first = dropped.train()(wave).logits[0]
    second = dropped(wave).logits[0]
    assert not torch.allclose(first, second)
    torch.testing.assert_close(dropped.eval()(wave).logits[0], plain.eval()(wave).logits[0])


@pytest.mark.parametrize("name, params, fragment", [
    ("parallel_wavegan", {"layers": 1}, "layers must be an integer >= 2, got 1"),
    ("parallel_wavegan", {"channels": 0}, "channels must be an integer >= 1"),
    ("parallel_wavegan", {"kernel_size": 4}, "kernel_size must be odd"),
    ("parallel_wavegan", {"dilation_factor": 1.5}, "dilation_factor must be an integer"),
    ("parallel_wavegan", {"negative_slope": float("nan")}, "negative_slope must be a finite"),
    ("parallel_wavegan", {"bias": "yes"}, "bias must be true or false, got 'yes'"),
    ("residual_parallel_wavegan", {"layers": 30, "stacks": 4}, "multiple of stacks (4)"),
    ("residual_parallel_wavegan", {"gate_channels": 63}, "gate_channels must be even"),
    ("residual_parallel_wavegan", {"dropout": 1.0}, "dropout must be a number in [0, 1)"),
    ("residual_parallel_wavegan", {"skip_channels": -1}, "skip_channels must be an integer"),
])
def test_bad_params_are_one_line_value_errors(name: str, params: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        build_discriminator(name, **params)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_discriminator_params_of_a_recipe_reach_the_constructor(tmp_path: Path) -> None:
    good = vocoder_config(tmp_path, "discriminator={name: residual_parallel_wavegan, params: "
                                    "{layers: 4, stacks: 2, skip_channels: 16}}")
    from audiogan.config.build import discriminator_from_config

    disc = discriminator_from_config(good)
    assert isinstance(disc, ResidualParallelWaveGANDiscriminator)
    assert disc.dilations == [1, 2, 1, 2] and disc.post.in_channels == 16
    bad = vocoder_config(tmp_path, "discriminator={name: parallel_wavegan, params: "
                                   "{kernel_size: 4}}")
    with pytest.raises(AudioganError) as caught:
        check_discriminator(bad)
    message = str(caught.value)
    assert message.startswith("discriminator.params: kernel_size must be odd")
    assert "\n" not in message
    with pytest.raises(AudioganError, match="valid keys here: layers, channels, kernel_size"):
        vocoder_config(tmp_path, "discriminator={name: parallel_wavegan, params: "
                                 "{conv_channels: 8}}")


@pytest.mark.parametrize("name, params", [("parallel_wavegan", SMALL_PLAIN),
                                          ("residual_parallel_wavegan", SMALL_RESIDUAL)])
def test_a_tiny_vocoder_trains_against_it(tmp_path: Path, name: str, params: dict) -> None:
    from audiogan.training.trainer import Trainer

    _write_corpus(tmp_path / "corpus", n=4)
    flow = ", ".join(f"{key}: {value}" for key, value in params.items())
    config = vocoder_config(tmp_path / "corpus", f"discriminator={{name: {name}, params: "
                                                 f"{{{flow}}}}}", max_steps=2, batch_size=2)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    result = trainer.fit()
    assert result.step == 2
    assert all("d_loss" in entry and torch.isfinite(torch.tensor(entry["d_loss"]))
               for entry in result.history)
    after = trainer.discriminator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
